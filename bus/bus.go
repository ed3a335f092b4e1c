package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Bus publishes and subscribes on one backend. It is safe for concurrent
// use; create it with Open and release it with Close.
type Bus struct {
	conn   driver.Conn
	name   string
	logger *slog.Logger
	caps   driver.Capabilities

	mu     sync.RWMutex // guards closed and subs; Publish takes it for reading
	closed bool
	subs   map[*Subscription]struct{}
	// publishing counts Publish calls in progress, so Close flushes
	// producers only after they return.
	publishing sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

func newBus(conn driver.Conn, name string, logger *slog.Logger) *Bus {
	return &Bus{
		conn:   conn,
		name:   name,
		logger: logger,
		caps:   conn.Capabilities(),
		subs:   make(map[*Subscription]struct{}),
	}
}

// String names the backend without any secret, e.g. "kafka://host:9092".
func (b *Bus) String() string { return b.name }

// As sets target to the driver's native client when it can (for example
// *kafka.Producer on kafka://, pulsar.Client on pulsar://) and reports
// whether it did.
func (b *Bus) As(target any) bool { return b.conn.As(target) }

// publishBuffers recycles the driver message slices of Publish calls.
var publishBuffers = sync.Pool{New: func() any { return new([]driver.Message) }}

// Publish sends msgs to topic and returns once the backend holds all of
// them durably. It fills an empty ID with a UUIDv7 and a zero Time with the
// current time, in place. When some messages fail it returns a
// *PublishError naming them; the others were published.
func (b *Bus) Publish(ctx context.Context, topic string, msgs ...*Message) error {
	if err := b.startPublish(topic); err != nil {
		return err
	}
	defer b.publishing.Done()
	if len(msgs) == 0 {
		return nil
	}
	buf := publishBuffers.Get().(*[]driver.Message)
	defer func() {
		clear(*buf)
		*buf = (*buf)[:0]
		publishBuffers.Put(buf)
	}()
	now := time.Now().Round(0)
	for i, m := range msgs {
		if m == nil {
			return fmt.Errorf("eventbus: publish to %q: message %d is nil", topic, i)
		}
		if m.ID == "" {
			m.ID = newID(now)
		}
		if m.Time.IsZero() {
			m.Time = now
		}
		if limit := b.caps.MaxMessageBytes; limit > 0 {
			if size := messageSize(m); size > limit {
				return fmt.Errorf("%w: publish to %q: message %d (id %s) is %d bytes, the backend takes at most %d",
					ErrMessageTooLarge, topic, i, m.ID, size, limit)
			}
		}
		*buf = append(*buf, driver.Message{ID: m.ID, Key: m.Key, Payload: m.Payload, Header: m.Header, Time: m.Time, DeliverAt: m.DeliverAt})
	}
	err := b.send(ctx, topic, *buf, now)
	if err == nil {
		return nil
	}
	var perMessage driver.MessageErrors
	if errors.As(err, &perMessage) && len(perMessage) == len(msgs) {
		pe := &PublishError{Topic: topic, Total: len(msgs)}
		for i, e := range perMessage {
			if e != nil {
				pe.Failed = append(pe.Failed, FailedMessage{Index: i, ID: msgs[i].ID, Key: msgs[i].Key, Err: e})
			}
		}
		return pe
	}
	return fmt.Errorf("eventbus: publish %d messages to %q: %w", len(msgs), topic, err)
}

// messageSize is the payload, key and header bytes, the part of a message a
// backend limit counts.
func messageSize(m *Message) int {
	n := len(m.Payload) + len(m.Key) + len(m.ID)
	for k, v := range m.Header {
		n += len(k) + len(v)
	}
	return n
}

func (b *Bus) startPublish(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: publish: topic is empty", ErrInvalidTopic)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("eventbus: publish to %q: %w", topic, ErrClosed)
	}
	b.publishing.Add(1)
	return nil
}

// Close shuts the bus down in order: it closes every subscription (stop
// fetching, let in-flight handlers finish, commit, close consumers), waits
// for Publish calls in progress, and flushes and closes producers last.
// Handlers' contexts are cancelled only when ctx is done. Close is
// idempotent; later calls return the first call's result.
func (b *Bus) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		subs := make([]*Subscription, 0, len(b.subs))
		for s := range b.subs {
			subs = append(subs, s)
		}
		b.mu.Unlock()

		errs := make([]error, len(subs)+2)
		var wg sync.WaitGroup
		for i, s := range subs {
			wg.Go(func() { errs[i] = s.Close(ctx) })
		}
		wg.Wait()
		// The dead-letter publishes of draining handlers are done by now.
		done := make(chan struct{})
		go func() { b.publishing.Wait(); close(done) }()
		if err := await(ctx, done); err != nil {
			errs[len(subs)] = fmt.Errorf("eventbus: close: waiting for publishes in progress: %w", err)
		}
		if err := b.conn.Close(ctx); err != nil {
			errs[len(subs)+1] = fmt.Errorf("eventbus: close %s: %w", b.name, err)
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

func (b *Bus) addSubscription(s *Subscription) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.subs[s] = struct{}{}
	return nil
}

func (b *Bus) removeSubscription(s *Subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}
