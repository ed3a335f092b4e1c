// Package memory is the in-process eventbus backend, scheme mem://.
//
// It is a real broker living in the process: an append-only log per topic
// with bounded retention, durable named groups whose positions survive
// their subscriptions, competing consumers within a group with per-key
// affinity, fan-out across groups, and nack with delayed redelivery. It is
// what tests and examples run on, and the reference for how a backend
// behaves.
//
// Transactional subscriptions (bus.Transactional) append a handler run's
// outputs and ack its message in one call.
//
// Every bus.Open("mem://") makes a new broker of its own. To share one broker
// between several buses, as separate processes share Kafka, make a Broker
// and make buses on it with Broker.NewBus.
//
// URL parameters:
//
//	retention=100000           messages kept per topic (see below)
//	max_message_bytes=4194304  largest payload, key and headers of a message
//
// Retention: a topic keeps at most retention messages. To make room, the
// oldest messages that every group has acknowledged are dropped, up to a
// 64th of the retention at a time (while the topic has no group, the oldest
// messages go regardless, and a new group starts at the oldest one kept). When the oldest message is still unacknowledged by
// some group, Publish blocks until that group catches up or its ctx is done,
// and then fails with an error wrapping ErrFull and ctx.Err(): a slow
// consumer slows producers down rather than losing messages.
package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
)

func init() { bus.Register("mem", openURL) }

// ErrFull reports a Publish that gave up waiting for room in a topic whose
// retention bound was reached.
var ErrFull = errors.New("memory: topic retention bound reached")

// Defaults of the URL parameters.
const (
	DefaultRetention       = 100_000
	DefaultMaxMessageBytes = 4 << 20
)

// Options configures a Broker.
type Options struct {
	// Retention is the number of messages a topic keeps; 0 means
	// DefaultRetention.
	Retention int
	// MaxMessageBytes bounds a message's payload, key and headers; 0 means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Logger receives the broker's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Broker is an in-process message broker. Buses opened on the same Broker
// see the same topics and groups.
type Broker struct {
	opts   Options
	mu     sync.RWMutex
	topics map[string]*topicLog
}

// NewBroker returns an empty broker. A zero field takes its default; a
// negative one is an error that names it.
func NewBroker(opts Options) (*Broker, error) {
	switch {
	case opts.Retention < 0:
		return nil, fmt.Errorf("memory: Options.Retention: %d is negative", opts.Retention)
	case opts.MaxMessageBytes < 0:
		return nil, fmt.Errorf("memory: Options.MaxMessageBytes: %d is negative", opts.MaxMessageBytes)
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Broker{opts: opts, topics: make(map[string]*topicLog)}, nil
}

// NewBus returns a new bus connected to b. It logs to the broker's logger
// unless opts hold a bus.Logger; an invalid option is an error.
func (b *Broker) NewBus(opts ...bus.OpenOption) (*bus.Bus, error) {
	return bus.NewBus(b.connect(), "mem://", append([]bus.OpenOption{bus.Logger(b.opts.Logger)}, opts...)...)
}

func (b *Broker) connect() *conn {
	return &conn{broker: b}
}

// urlShape: a mem:// URL names no broker, it holds parameters only.
var urlShape = driver.URLShape{Want: "mem://?retention=N&max_message_bytes=N"}

func openURL(_ context.Context, cfg driver.OpenConfig) (driver.Conn, error) {
	q := driver.NewQuery(cfg.URL)
	opts := Options{
		Retention:       q.Int("retention", DefaultRetention, 1),
		MaxMessageBytes: q.Int("max_message_bytes", DefaultMaxMessageBytes, 1),
		Logger:          cfg.Logger,
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	if err := urlShape.Check(cfg.URL); err != nil {
		return nil, err
	}
	broker, err := NewBroker(opts)
	if err != nil {
		return nil, err
	}
	return broker.connect(), nil
}

func (b *Broker) topic(name string) *topicLog {
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t != nil {
		return t
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t = b.topics[name]; t == nil {
		t = newTopicLog(name, b.opts.Retention)
		b.topics[name] = t
	}
	return t
}

// conn is one bus's connection to a Broker.
type conn struct {
	broker *Broker
	closed driver.CloseFlag
}

func (c *conn) Publish(ctx context.Context, topic string, msgs []driver.Message) error {
	if c.closed.IsClosed() {
		return driver.ErrClosed
	}
	if err := checkTopic(topic); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: publish to %q: none published: %w", topic, err)
	}
	// Oversized messages fail on their own; the others go on.
	var errs driver.MessageErrors
	fit := msgs
	for i := range msgs {
		if err := driver.CheckSize(&msgs[i], c.broker.opts.MaxMessageBytes); err != nil {
			if errs == nil {
				errs = make(driver.MessageErrors, len(msgs))
				fit = slices.Clone(msgs[:i])
			}
			errs[i] = fmt.Errorf("memory: publish to %q: %w", topic, err)
		} else if errs != nil {
			fit = append(fit, msgs[i])
		}
	}
	err := c.broker.topic(topic).append(ctx, fit)
	if errs == nil {
		return err
	}
	var appendErrs driver.MessageErrors
	errors.As(err, &appendErrs)
	j := 0
	for i := range errs {
		if errs[i] == nil {
			if appendErrs != nil {
				errs[i] = appendErrs[j]
			}
			j++
		}
	}
	return errs
}

// checkTopic adds the memory backend's own limit to the portable rule:
// names have one segment, no '/'.
func checkTopic(topic string) error {
	if strings.Contains(topic, "/") {
		return fmt.Errorf("%w: mem:// topic %q: hierarchical names are not supported", driver.ErrInvalidTopic, topic)
	}
	return nil
}

func (c *conn) Subscribe(_ context.Context, topic string, cfg driver.SubscribeConfig) (driver.Subscription, error) {
	if c.closed.IsClosed() {
		return nil, driver.ErrClosed
	}
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	if len(cfg.Options) > 0 {
		return nil, fmt.Errorf("memory: subscribe to %q: %w", topic, driver.UnknownOption(cfg.Options[0]))
	}
	return c.broker.topic(topic).join(cfg.Group), nil
}

func (c *conn) Capabilities() driver.Capabilities {
	return driver.Capabilities{MaxMessageBytes: c.broker.opts.MaxMessageBytes, System: "memory", DelayedDelivery: true}
}

// As reaches the *Broker.
func (c *conn) As(target any) bool {
	if p, ok := target.(**Broker); ok {
		*p = c.broker
		return true
	}
	return false
}

// Close marks the connection closed. Publishes are durable as soon as they
// return, so there is nothing to flush.
func (c *conn) Close(context.Context) error {
	c.closed.Close()
	return nil
}
