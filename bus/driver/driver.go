// Package driver defines the small interface an eventbus backend implements.
//
// Users never touch this package: they program against package bus, which
// holds every piece of delivery semantics (dispatch, per-key ordering,
// concurrency, middleware, retries, dead letters, codecs, shutdown order).
// A driver only moves bytes, reports deliveries and carries out ack and nack.
//
// A backend registers a URL scheme with bus.Register from an init function,
// the way database/sql drivers do, and must pass the conformance suite in
// package bus/bustest.
package driver

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// Message is the unit a driver publishes and delivers.
//
// On the wire, ID and Time travel as CloudEvents headers (see EncodeHeaders)
// and Key as the backend's record key; in-process drivers may keep the
// struct as it is.
type Message struct {
	ID      string
	Key     string
	Payload []byte
	Header  map[string]string
	Time    time.Time
	// DeliverAt, when not zero, asks that the message reach handlers no
	// earlier than this time. On the wire it travels as the
	// HeaderDeliverAt header, so it survives hops between topics.
	DeliverAt time.Time
}

// Delivery is a message handed to package bus by a Subscription, with the
// receipt that settles it.
type Delivery struct {
	Message
	Receipt
}

// Receipt is what a driver needs back to settle a delivery: package bus
// keeps it beside the message and passes it to Ack or Nack. Every delivery
// a driver returns from Receive is settled by at most one call to Ack or
// Nack; package bus may leave deliveries unsettled only when shutdown's
// deadline passed, and Close then gives them back to the backend.
type Receipt struct {
	// Attempt is 1 on the first delivery and higher on redelivery, where the
	// backend can tell; 0 means unknown and is treated as 1.
	Attempt int
	// Partition and Offset locate the message where the backend has such a
	// notion; -1 when it does not. They feed the dead-letter headers.
	Partition int32
	Offset    int64
	// Withdrawn, when not nil, is closed once the backend has taken the
	// message back because this member lost it (a Kafka partition revoked
	// in a rebalance). Package bus then does not start its handler, stops
	// retrying it and gives it back with Nack.
	Withdrawn <-chan struct{}
	// Handle is the driver's own bookkeeping for Ack and Nack.
	Handle any
	// Native is the backend's message type, reached through Message.As.
	Native any
}

// Opener opens a connection for one URL scheme.
type Opener func(ctx context.Context, cfg OpenConfig) (Conn, error)

// OpenConfig is what bus.Open hands to an Opener.
type OpenConfig struct {
	// URL is the parsed connection URL; its query holds driver parameters.
	URL *url.URL
	// Logger is the bus logger; never nil.
	Logger *slog.Logger
}

// Conn is an open connection to a backend: it publishes and subscribes.
// Its methods are safe for concurrent use.
type Conn interface {
	// Publish returns once the backend holds every message durably. On
	// partial failure it returns MessageErrors.
	Publish(ctx context.Context, topic string, msgs []Message) error
	// Subscribe starts receiving from topic.
	Subscribe(ctx context.Context, topic string, cfg SubscribeConfig) (Subscription, error)
	// Capabilities reports what the backend supports.
	Capabilities() Capabilities
	// As sets target to a native client type when it can.
	As(target any) bool
	// Close flushes pending publishes within ctx and releases the
	// connection. Package bus closes every Subscription first.
	Close(ctx context.Context) error
}

// TopicEnsurer is implemented by a Conn whose topics must exist before use.
// Package bus calls it at Subscribe for the dead-letter topic, so that a
// missing one fails Subscribe instead of every dead letter later. It returns
// an error wrapping ErrTopicNotFound when the topic is missing and the
// driver does not create topics.
type TopicEnsurer interface {
	EnsureTopic(ctx context.Context, topic string) error
}

// SubscribeConfig describes a subscription.
type SubscribeConfig struct {
	// Group names a durable consumer group; members of one group share the
	// work. Empty means an ephemeral subscription that starts at the latest
	// message and commits nothing.
	Group string
	// Options are driver-specific subscribe options passed through
	// bus.DriverOption; a driver rejects the types it does not know.
	Options []any
}

// Subscription receives deliveries for one topic and group member.
//
// Package bus calls Receive from one goroutine at a time; Ack and Nack may
// run concurrently with each other and with Receive. Shutdown goes in this
// order: bus stops calling Receive, calls StopReceiving, settles what it
// decided to settle (Ack for what its handlers finished, Nack for what it
// gives back), then calls Close once. Settling a delivery the driver no
// longer holds (its partition was revoked, or after Close) does nothing and
// returns nil: the backend redelivers it to whoever holds it now.
type Subscription interface {
	// Receive blocks until at least one delivery is available, fills batch
	// from the start and returns how many it filled. It returns ctx.Err()
	// when ctx is done and another error only when the subscription cannot
	// go on.
	Receive(ctx context.Context, batch []Delivery) (int, error)
	// Ack settles a delivery as done. Acks are never undone: once Ack
	// returned, the backend does not hand the message to the group again,
	// except after a crash of this process before the ack was committed.
	Ack(r *Receipt) error
	// Nack gives a delivery back: the backend redelivers it no earlier
	// than delay from now, and never skips it, without redelivering or
	// holding back other deliveries. After StopReceiving, a nacked
	// delivery is left for the group's next member instead.
	Nack(r *Receipt, delay time.Duration) error
	// StopReceiving tells the driver that shutdown has begun, before bus
	// settles anything for shutdown: it stops fetching, and Ack and Nack
	// go on working until Close.
	StopReceiving()
	// Close commits what was acked, leaves the group and releases the
	// consumer, within ctx. Unsettled deliveries are redelivered to the
	// group later.
	Close(ctx context.Context) error
}

// Capabilities tells package bus and the conformance suite what a backend
// does.
type Capabilities struct {
	// MaxMessageBytes is the largest payload plus headers a message may
	// carry; 0 means no limit.
	MaxMessageBytes int
	// RedeliveryCount reports whether Delivery.Attempt counts backend
	// redeliveries.
	RedeliveryCount bool
	// DelayedDelivery reports whether the backend itself holds a message
	// with a DeliverAt back until then. Without it, package bus routes such
	// messages through a delay topic (see bus.DelayTopic).
	DelayedDelivery bool
}

// MessageErrors is the error Publish returns when some messages failed: one
// entry per published message, nil for those that succeeded.
type MessageErrors []error

// Error counts the failed messages; the entries say why each failed.
func (e MessageErrors) Error() string {
	failed := 0
	for _, err := range e {
		if err != nil {
			failed++
		}
	}
	return fmt.Sprintf("%d of %d messages failed", failed, len(e))
}
