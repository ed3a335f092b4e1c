package bus

import (
	"context"
	"fmt"
	"reflect"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Codec turns values of type T into payloads and back. Package bus/codec
// has JSON and Protobuf codecs.
type Codec[T any] interface {
	// ContentType names the encoding, sent as the content-type header.
	ContentType() string
	Encode(v T) ([]byte, error)
	Decode(data []byte) (T, error)
}

// Topic is a typed view of a topic: it publishes values of type T and
// builds handlers that receive them decoded.
//
//	orders := bus.NewTopic("orders", codec.JSON[OrderCreated]{})
//	err := orders.Publish(ctx, b, order.ID, order)
//	sub, err := orders.Subscribe(ctx, b, func(ctx context.Context, m *bus.Message, o OrderCreated) error { ... })
type Topic[T any] struct {
	name      string
	codec     Codec[T]
	eventType string
}

// NewTopic returns the typed topic name carrying T encoded with codec. Its
// messages' CloudEvents type (ce_type header) is T's Go type name, such as
// "main.OrderCreated", unless WithEventType is used.
func NewTopic[T any](name string, codec Codec[T]) Topic[T] {
	return Topic[T]{name: name, codec: codec, eventType: reflect.TypeFor[T]().String()}
}

// WithEventType returns a copy of t whose messages carry eventType as their
// CloudEvents type, such as "com.example.order.created".
func (t Topic[T]) WithEventType(eventType string) Topic[T] {
	t.eventType = eventType
	return t
}

// Name is the topic's name.
func (t Topic[T]) Name() string { return t.name }

// Message encodes v into a message with key and the codec's content-type.
// Set further fields (Header, ID, Time) before publishing it.
func (t Topic[T]) Message(key string, v T) (*Message, error) {
	payload, err := t.codec.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("eventbus: encode %s for %q: %w", t.eventType, t.name, err)
	}
	return &Message{
		Key:     key,
		Payload: payload,
		Header: map[string]string{
			driver.HeaderContentType: t.codec.ContentType(),
			driver.HeaderType:        t.eventType,
		},
	}, nil
}

// Publish encodes v and publishes it with key, returning once the backend
// holds it durably.
func (t Topic[T]) Publish(ctx context.Context, b *Bus, key string, v T) error {
	m, err := t.Message(key, v)
	if err != nil {
		return err
	}
	return b.Publish(ctx, t.name, m)
}

// TypedHandler handles one decoded event; m carries its key, headers and
// delivery details.
type TypedHandler[T any] func(ctx context.Context, m *Message, v T) error

// Handler adapts h to a Handler that decodes each payload first. A message
// without a content-type, or whose media type is the codec's (parameters
// such as charset aside, compared as media types), is decoded. A payload
// that does not decode, or whose media type is another, is a permanent
// failure wrapping ErrDecode: it goes to the dead-letter topic
// with its original bytes, without retries.
func (t Topic[T]) Handler(h TypedHandler[T]) Handler {
	want := t.codec.ContentType()
	wantType := driver.MediaType(want)
	return func(ctx context.Context, m *Message) error {
		if got := m.Header[driver.HeaderContentType]; got != "" && driver.MediaType(got) != wantType {
			return Permanent(fmt.Errorf("%w: message %s on %q has content-type %q, the codec reads %q", ErrDecode, m.ID, m.Topic, got, want))
		}
		v, err := t.codec.Decode(m.Payload)
		if err != nil {
			return Permanent(fmt.Errorf("%w: message %s on %q as %s: %w", ErrDecode, m.ID, m.Topic, t.eventType, err))
		}
		return h(ctx, m, v)
	}
}

// Subscribe is b.Subscribe(ctx, t.Name(), t.Handler(h), opts...).
func (t Topic[T]) Subscribe(ctx context.Context, b *Bus, h TypedHandler[T], opts ...SubscribeOption) (*Subscription, error) {
	return b.Subscribe(ctx, t.name, t.Handler(h), opts...)
}
