package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Request/reply headers. They are CloudEvents extension attributes
// (lowercase letters only, carried in binary mode with the ce_ prefix), so
// they travel unchanged on every backend, and by the CloudEvents Kafka
// binding they are the event's extensions "replyto" and "correlationid",
// which a CloudEvents-aware responder can read and answer.
const (
	// HeaderReplyTo names the topic a request's reply goes to.
	HeaderReplyTo = "ce_replyto"
	// HeaderCorrelationID matches a reply to its request: Request sets it on
	// the request, Reply copies it to the reply.
	HeaderCorrelationID = "ce_correlationid"
)

// DefaultReplyTimeout is how long Request waits for a reply when neither
// ReplyTimeout nor the context sets a shorter time.
const DefaultReplyTimeout = 30 * time.Second

// ErrNoReply reports a request whose reply did not come in time. The error
// also wraps the context's error (context.DeadlineExceeded on a timeout).
var ErrNoReply = errors.New("no reply")

// ErrNoReplyTo reports a Reply to a message that carries no HeaderReplyTo,
// so it is not a request. It is permanent.
var ErrNoReplyTo = errors.New("message has no reply-to header")

// Requester sends requests and waits for their replies. Create one per
// service instance with NewRequester and share it: it owns a reply topic
// and a subscription to it, and matches each reply to the waiting Request
// by its correlation ID. Its methods are safe for concurrent use.
//
// Pending requests live in memory. When the requester closes, or the
// process stops, every waiting Request returns; a reply that comes later, or
// that no Request waits for (it timed out, or it answers another requester
// on a shared reply topic), is acknowledged and dropped with a debug log.
// What happens to replies sent while no requester listens depends on the
// reply subscription:
//
//   - Ephemeral (the default): the requester sees only replies published
//     after NewRequester returned; replies sent while it is down are never
//     delivered to it. Nothing is stored for it on the backend.
//   - Durable (ReplyGroup): the backend keeps replies for the group while
//     the requester is down and delivers them after a restart on the same
//     reply topic, where no request waits for them any more: they are
//     acknowledged and dropped, so they cost one delivery each. Use it when
//     the backend should keep the reply topic's read position, not to
//     recover requests across restarts.
//
// Either way a request in flight across a restart gets no reply: the caller
// sees ErrClosed or loses it with the process, and sends it again if it
// must, so responders should be idempotent.
type Requester struct {
	bus        *Bus
	replyTopic string
	timeout    time.Duration
	sub        *Subscription
	logger     *slog.Logger

	mu      sync.Mutex
	pending map[string]chan *Message // by correlation ID

	stopOnce sync.Once
	stopped  chan struct{} // closed when no more replies come
	stopErr  error         // why, set before stopped is closed
}

// RequesterOption configures NewRequester.
type RequesterOption func(*requesterConfig) error

type requesterConfig struct {
	replyTopic string
	replyGroup string
	timeout    time.Duration
}

// ReplyTopic sets the requester's reply topic. The default is a new topic
// "eventbus.replies.<uuid>" for each requester; a name that stays the same
// across restarts of one service instance (from its host or pod name, say)
// avoids leaving a topic behind per start on backends that keep topics,
// such as Kafka. Requesters may share a reply topic: each one then receives
// every reply and drops the others' (see Requester).
func ReplyTopic(topic string) RequesterOption {
	return func(c *requesterConfig) error {
		if topic == "" {
			return fmt.Errorf("ReplyTopic: %w: topic is empty", ErrInvalidTopic)
		}
		c.replyTopic = topic
		return nil
	}
}

// ReplyGroup subscribes to the reply topic durably, in the named group,
// instead of ephemerally; see Requester for what changes. The reply topic
// must then be this requester's own, as group members split the replies.
func ReplyGroup(name string) RequesterOption {
	return func(c *requesterConfig) error {
		if name == "" {
			return fmt.Errorf("ReplyGroup: name is empty")
		}
		c.replyGroup = name
		return nil
	}
}

// ReplyTimeout bounds each Request, its publish included, in addition to
// its context (default DefaultReplyTimeout).
func ReplyTimeout(d time.Duration) RequesterOption {
	return func(c *requesterConfig) error {
		if d <= 0 {
			return fmt.Errorf("ReplyTimeout: %v is not positive", d)
		}
		c.timeout = d
		return nil
	}
}

// NewRequester subscribes to a reply topic and returns a Requester that
// uses it. The subscription is in place when NewRequester returns, so no
// reply to a later Request is missed. A reply topic the backend neither has
// nor creates (Kafka without create_topics=true) is an error wrapping
// ErrTopicNotFound. The requester stops when ctx is cancelled, on Close, or
// when b closes.
func (b *Bus) NewRequester(ctx context.Context, opts ...RequesterOption) (*Requester, error) {
	cfg := requesterConfig{timeout: DefaultReplyTimeout}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("eventbus: new requester: an option is nil")
		}
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("eventbus: new requester: %w", err)
		}
	}
	if cfg.replyTopic == "" {
		cfg.replyTopic = "eventbus.replies." + newID(time.Now())
	}
	r := &Requester{
		bus:        b,
		replyTopic: cfg.replyTopic,
		timeout:    cfg.timeout,
		logger:     b.logger.With("reply_topic", cfg.replyTopic),
		pending:    make(map[string]chan *Message),
		stopped:    make(chan struct{}),
	}
	var subOpts []SubscribeOption
	if cfg.replyGroup != "" {
		subOpts = append(subOpts, Group(cfg.replyGroup))
	}
	sub, err := b.Subscribe(ctx, cfg.replyTopic, r.receiveReply, subOpts...)
	if err != nil {
		return nil, fmt.Errorf("eventbus: new requester: reply topic: %w", err)
	}
	r.sub = sub
	go func() {
		<-sub.Done()
		err := ErrClosed
		if subErr := sub.Err(); subErr != nil {
			err = fmt.Errorf("%w: reply subscription to %q failed: %w", ErrClosed, r.replyTopic, subErr)
		}
		r.stop(err)
	}()
	return r, nil
}

// ReplyTopic is the topic this requester's replies arrive on.
func (r *Requester) ReplyTopic() string { return r.replyTopic }

// Request publishes m to topic as a request and waits for its reply. It sets
// m's HeaderReplyTo and HeaderCorrelationID in place (and, like Publish,
// fills an empty ID and zero Time), so m must not be shared with another
// Request in flight.
//
// When no reply comes before ctx is done or the requester's ReplyTimeout
// passes, the error wraps ErrNoReply and the context's error
// (context.DeadlineExceeded on a timeout, context.Canceled when ctx was
// cancelled). When the requester stops first, it wraps ErrClosed. When the
// request cannot be published, it is Publish's error.
func (r *Requester) Request(ctx context.Context, topic string, m *Message) (*Message, error) {
	if m == nil {
		return nil, fmt.Errorf("eventbus: request to %q: message is nil", topic)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	correlationID := newID(time.Now())
	reply := make(chan *Message, 1) // receiveReply sends at most once, never blocking
	r.mu.Lock()
	select {
	case <-r.stopped:
		r.mu.Unlock()
		return nil, fmt.Errorf("eventbus: request to %q: %w", topic, r.stopErr)
	default:
	}
	r.pending[correlationID] = reply
	r.mu.Unlock()
	defer r.forget(correlationID)

	if m.Header == nil {
		m.Header = make(map[string]string, 2)
	}
	m.Header[HeaderReplyTo] = r.replyTopic
	m.Header[HeaderCorrelationID] = correlationID
	if err := r.bus.Publish(ctx, topic, m); err != nil {
		return nil, fmt.Errorf("eventbus: request to %q: %w", topic, err)
	}
	select {
	case got := <-reply:
		return got, nil
	case <-ctx.Done():
		select {
		case got := <-reply: // came together with the deadline: still in time
			return got, nil
		default:
		}
		return nil, fmt.Errorf("eventbus: request %s to %q: %w: %w", m.ID, topic, ErrNoReply, ctx.Err())
	case <-r.stopped:
		return nil, fmt.Errorf("eventbus: request %s to %q: %w", m.ID, topic, r.stopErr)
	}
}

func (r *Requester) forget(correlationID string) {
	r.mu.Lock()
	delete(r.pending, correlationID)
	r.mu.Unlock()
}

// receiveReply hands a reply to the Request waiting for it. A reply nobody
// waits for is acknowledged and dropped: retrying cannot make a caller wait
// for it again.
func (r *Requester) receiveReply(_ context.Context, m *Message) error {
	correlationID := m.Header[HeaderCorrelationID]
	r.mu.Lock()
	waiting, ok := r.pending[correlationID]
	delete(r.pending, correlationID)
	r.mu.Unlock()
	if !ok {
		r.logger.Debug("eventbus: dropping a reply no request waits for (it timed out, was answered already, or is another requester's)",
			"correlation_id", correlationID, "id", m.ID, "key", m.Key)
		return nil
	}
	waiting <- m
	return nil
}

// stop fails every waiting and later Request with err.
func (r *Requester) stop(err error) {
	r.stopOnce.Do(func() {
		r.stopErr = err
		close(r.stopped)
	})
}

// Close fails the requests still waiting with ErrClosed, then closes the
// reply subscription within ctx. Close is idempotent.
func (r *Requester) Close(ctx context.Context) error {
	r.stop(ErrClosed)
	return r.sub.Close(ctx)
}

// Reply publishes reply as the answer to request, which a handler received:
// to the topic in the request's HeaderReplyTo, with the request's
// HeaderCorrelationID and, when reply.Key is empty, the request's key. It
// sets those on reply in place and, like Publish, fills an empty ID and zero
// Time. A request without HeaderReplyTo is a permanent error wrapping
// ErrNoReplyTo.
func Reply(ctx context.Context, b *Bus, request, reply *Message) error {
	if request == nil || reply == nil {
		return Permanent(fmt.Errorf("eventbus: reply: request or reply is nil"))
	}
	replyTo := request.Header[HeaderReplyTo]
	if replyTo == "" {
		return Permanent(fmt.Errorf("eventbus: reply to message %s on %q: %w (%s)", request.ID, request.Topic, ErrNoReplyTo, HeaderReplyTo))
	}
	if reply.Header == nil {
		reply.Header = make(map[string]string, 1)
	}
	if correlationID, ok := request.Header[HeaderCorrelationID]; ok {
		reply.Header[HeaderCorrelationID] = correlationID
	}
	if reply.Key == "" {
		reply.Key = request.Key
	}
	if err := b.Publish(ctx, replyTo, reply); err != nil {
		return fmt.Errorf("eventbus: reply to message %s on %q: %w", request.ID, request.Topic, err)
	}
	return nil
}
