package bus

import (
	"context"
	"fmt"
)

// RequestTopic is a typed request/reply pair: requests of type Req on a
// Topic[Req], answered with replies of type Resp encoded by a Codec[Resp].
//
//	sendEmail := bus.NewRequestTopic(bus.NewTopic("email.send", codec.JSON[SendEmail]{}), codec.JSON[EmailSent]{})
//
//	// the service that answers
//	sub, err := sendEmail.Serve(ctx, b, func(ctx context.Context, m *bus.Message, req SendEmail) (EmailSent, error) { ... },
//		bus.Group("mailer"))
//
//	// the service that asks
//	requester, err := b.NewRequester(ctx)
//	sent, reply, err := sendEmail.Request(ctx, requester, req.To, req)
type RequestTopic[Req, Resp any] struct {
	requests Topic[Req]
	replies  Topic[Resp] // its name is the requests' topic, for errors: replies go to each request's reply-to topic
}

// NewRequestTopic returns the typed request/reply pair of requests, whose
// replies are encoded with replyCodec. Replies carry Resp's Go type name as
// their CloudEvents type unless WithReplyType is used.
func NewRequestTopic[Req, Resp any](requests Topic[Req], replyCodec Codec[Resp]) RequestTopic[Req, Resp] {
	return RequestTopic[Req, Resp]{requests: requests, replies: NewTopic(requests.Name(), replyCodec)}
}

// WithReplyType returns a copy of t whose replies carry eventType as their
// CloudEvents type, such as "com.example.email.sent".
func (t RequestTopic[Req, Resp]) WithReplyType(eventType string) RequestTopic[Req, Resp] {
	t.replies = t.replies.WithEventType(eventType)
	return t
}

// Requests is the topic the requests travel on.
func (t RequestTopic[Req, Resp]) Requests() Topic[Req] { return t.requests }

// Request sends v with key as a request through r and returns the decoded
// reply and its message; see Requester.Request for timeouts and errors. A
// reply that does not decode is an error wrapping ErrDecode.
func (t RequestTopic[Req, Resp]) Request(ctx context.Context, r *Requester, key string, v Req) (Resp, *Message, error) {
	var resp Resp
	m, err := t.requests.Message(key, v)
	if err != nil {
		return resp, nil, err
	}
	reply, err := r.Request(ctx, t.requests.Name(), m)
	if err != nil {
		return resp, nil, err
	}
	err = t.replies.Handler(func(_ context.Context, _ *Message, v Resp) error {
		resp = v
		return nil
	})(ctx, reply)
	return resp, reply, err
}

// Reply publishes v as the reply to request; see Reply.
func (t RequestTopic[Req, Resp]) Reply(ctx context.Context, b *Bus, request *Message, v Resp) error {
	reply, err := t.replies.Message("", v)
	if err != nil {
		return err
	}
	return Reply(ctx, b, request, reply)
}

// ServeFunc answers one decoded request. Returning an error sends no reply:
// the request goes to the subscription's error policy like any failed
// message.
type ServeFunc[Req, Resp any] func(ctx context.Context, m *Message, v Req) (Resp, error)

// Serve subscribes h to the requests and publishes each answer it returns
// as the reply. The reply's publish is part of handling the request: when
// it fails, the request is retried. opts are those of Subscribe; serve in a
// Group so that the instances of a service share the requests.
func (t RequestTopic[Req, Resp]) Serve(ctx context.Context, b *Bus, h ServeFunc[Req, Resp], opts ...SubscribeOption) (*Subscription, error) {
	if h == nil {
		return nil, fmt.Errorf("eventbus: serve %q: handler is nil", t.requests.Name())
	}
	return t.requests.Subscribe(ctx, b, func(ctx context.Context, m *Message, v Req) error {
		resp, err := h(ctx, m, v)
		if err != nil {
			return err
		}
		return t.Reply(ctx, b, m, resp)
	}, opts...)
}
