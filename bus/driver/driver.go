// Package driver defines the small interface an eventbus backend implements.
//
// Users never touch this package: they program against package bus, which
// holds every piece of delivery semantics (dispatch, per-key ordering,
// concurrency, middleware, retries, dead letters, codecs, shutdown order).
// A driver only moves bytes, reports deliveries and carries out ack and nack.
//
// A backend registers a URL scheme with bus.Register from an init function,
// the way database/sql drivers do, and must pass the conformance suite in
// package bus/bustest, whose driver section (run when Harness.OpenConn is
// set) checks the contract below by calling the Conn directly.
//
// What every driver needs besides moving bytes lives here once: [Query]
// reads URL parameters and [URLShape] checks the rest of the URL;
// [UnknownOption] refuses a driver option; [EphemeralGroup] names the
// backend group of a subscription without one; [CloseFlag] and [Closed]
// answer "closed yet?"; [EncodeHeaders] and [DecodeHeader] map CloudEvents
// attributes to headers.
//
// # The contract
//
// Opening. An Opener rejects a URL it cannot use with an error wrapping
// ErrInvalidURL that names the parameter at fault (Query does this for
// unknown and malformed parameters and for files that do not exist), and
// never shows a secret. It reaches the backend within ctx, so that an
// unreachable address, a TLS listener spoken to in plaintext (or the
// reverse) or missing credentials fail Open with an error naming the
// address, not the first Publish.
//
// Concurrency. Every method of Conn may be called from many goroutines at
// once, Publish and Subscribe included, also on the same topic. Receive of
// one Subscription is called from one goroutine at a time; Ack and Nack may
// run concurrently with it and with each other. Close may be called at any
// time and more than once.
//
// Contexts. Every method that takes a ctx returns soon after ctx is done
// (the suite allows a second), also when the backend is unreachable; a
// client call that takes no ctx runs beside it.
//
// Errors. A driver wraps its failures onto the sentinels of this package
// whenever one applies, so errors.Is works the same on every backend:
// ErrClosed after Close, ErrInvalidTopic for a name the backend rejects,
// ErrMessageTooLarge for a message beyond its limit, ErrTopicNotFound for
// a missing topic it does not create.
//
// Topic names. Package bus has already checked every name against its
// portable rule (bus.ValidateTopic); a driver adds its own limits, such as
// rejecting hierarchical names when it has none, with ErrInvalidTopic.
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
//
// Its ID is never empty: for a message whose producer set no ce_id, the
// driver derives one from the message's position in the backend, unique
// within it and the same on every redelivery and in every group (Kafka:
// "<topic>/<partition>/<offset>"). Its Time is zero only when the backend
// has no time for a message without ce_time. Structured-mode messages are
// delivered as they came; package bus reads them (ReadStructured).
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
	// Attempt is 1 on the first delivery and higher on redelivery: a
	// delivery nacked once comes back as 2 (the driver section of bustest
	// checks it). Where the backend keeps no count, a redelivery to
	// another process may start over; 0 means unknown and is treated as 1.
	Attempt int
	// Partition and Offset locate the message where the backend has such a
	// notion; -1 when it does not. They feed the dead-letter headers.
	Partition int32
	Offset    int64
	// Withdrawn, when not nil, is closed once the driver has taken the
	// delivery back and will hand the message out again itself: because
	// this member lost it (a Kafka partition revoked in a rebalance), or
	// because the driver rewinds to an earlier position (a Kafka
	// transaction aborted, and its partition restarts at the group's
	// commit). Package bus then does not start its handler, stops retrying
	// it and gives it back with Nack, which does nothing to a delivery the
	// driver no longer holds.
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
	// Publish returns once the backend holds every message durably, in
	// order per key.
	//
	// With ctx already done it publishes nothing and returns an error
	// wrapping ctx.Err(): a caller that retries must not duplicate. When
	// some messages fail, or ctx ends while some are still unconfirmed,
	// it returns MessageErrors with one entry per message, nil for those
	// the backend confirmed; an entry for a message that may still arrive
	// says so. A message the client would refuse as too large gets an
	// entry wrapping ErrMessageTooLarge before it is sent, while the
	// others go on (see Capabilities.MaxMessageBytes). After Close it
	// returns ErrClosed.
	Publish(ctx context.Context, topic string, msgs []Message) error
	// Subscribe starts receiving from topic and returns once the
	// subscription is in place: a message published after it returns is
	// delivered to it. It gives up when ctx is done; ctx does not bound
	// the subscription's life, Close does. Unknown cfg.Options are
	// errors. After Close it returns ErrClosed.
	Subscribe(ctx context.Context, topic string, cfg SubscribeConfig) (Subscription, error)
	// Capabilities reports what the backend supports; it is constant for
	// the life of the Conn.
	Capabilities() Capabilities
	// As sets target, a pointer to a native client type the driver
	// documents, and reports true; for any other target it returns false
	// and leaves it alone.
	As(target any) bool
	// Close flushes pending publishes within ctx and releases the
	// connection; later calls return nil. Package bus closes every
	// Subscription first. It returns an error only for a real loss: a
	// message not flushed, a client that failed to close; with nothing
	// pending it returns nil even when ctx is already done.
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
	// when ctx is done and another error only when the subscription
	// cannot go on. Message.Time and Message.ID are those
	// published; Header holds the user headers only (see DecodeHeader).
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
	// MaxMessageBytes is the largest message, counted by Message.Size,
	// the backend accepts; 0 means no limit. Package bus refuses larger
	// messages before the driver sees them. A message of this size made
	// of payload is always accepted; where the client counts some parts
	// more than once (pulsar-client-go counts headers twice when
	// batching), the driver refuses the messages the client would refuse,
	// per message, with ErrMessageTooLarge, and no others.
	MaxMessageBytes int
	// System names the backend in telemetry, as the OpenTelemetry
	// attribute messaging.system: "kafka", "pulsar", "memory".
	System string
	// ServerAddress and ServerPort name the broker the connection was
	// opened on (the first one of a list), for the server.address and
	// server.port attributes; empty and 0 when there is none.
	ServerAddress string
	ServerPort    int
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

// Output is a message a handler published inside a transactional handler
// run, with the topic it goes to.
type Output struct {
	Topic   string
	Message Message
}

// Transactor is implemented by a Conn that can commit a handler run's
// outputs together with the acknowledgement of its message (bus.
// Transactional). A Conn without it makes such a Subscribe fail with
// ErrUnsupported; a Transactor that cannot serve one on this backend
// returns an error wrapping ErrUnsupported.
type Transactor interface {
	SubscribeTx(ctx context.Context, topic string, cfg SubscribeConfig) (TxSubscription, error)
}

// TxSubscription is a Subscription whose acks carry outputs.
//
// AckWith settles a delivery as done together with outputs: the outputs
// become visible (to readers that read only committed data) if and only if
// the ack commits, and acks commit in the backend's order. AckWith hands
// over and returns; it does not wait for other deliveries to be settled,
// so a driver that commits in offset order commits later, in the
// background. When a commit fails, the driver discards its outputs and
// redelivers the messages whose acks did not commit. Ack is AckWith
// without outputs.
type TxSubscription interface {
	Subscription
	AckWith(r *Receipt, outputs []Output) error
}

// EachTopic calls fn, in order, for each run of consecutive outputs to one
// topic with their messages, and stops at fn's first error.
func EachTopic(outputs []Output, fn func(topic string, msgs []Message) error) error {
	for start := 0; start < len(outputs); {
		end := start + 1
		for end < len(outputs) && outputs[end].Topic == outputs[start].Topic {
			end++
		}
		msgs := make([]Message, end-start)
		for i, o := range outputs[start:end] {
			msgs[i] = o.Message
		}
		if err := fn(outputs[start].Topic, msgs); err != nil {
			return err
		}
		start = end
	}
	return nil
}
