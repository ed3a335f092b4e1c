package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Bus publishes and subscribes on one backend. It is safe for concurrent
// use; create it with Open and release it with Close.
type Bus struct {
	conn   driver.Conn
	name   string
	logger *slog.Logger
	caps   driver.Capabilities
	// structured makes Publish write CloudEvents structured mode.
	structured bool
	tel        *telemetry // nil records nothing

	mu     sync.RWMutex // guards closed and subs
	closed bool
	subs   map[*Subscription]struct{}
	// publishing counts Publish calls in progress, so Close flushes
	// producers only after they return. Close sets its sign bit
	// (publishClosed) with closed: no Publish starts after that, and the
	// last one in progress to end closes published.
	publishing atomic.Int64
	published  chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// publishClosed is the bit of Bus.publishing that Close sets.
const publishClosed = math.MinInt64

func newBus(conn driver.Conn, name string, o openOptions) *Bus {
	b := &Bus{
		conn:   conn,
		name:   name,
		logger: o.logger,
		caps:   conn.Capabilities(),
		subs:   make(map[*Subscription]struct{}),

		published: make(chan struct{}),

		structured: o.structured,
	}
	if !o.noTelemetry {
		b.tel = newTelemetry(o, b.caps, o.logger)
	}
	return b
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
// current time to the millisecond, in place. Inside a Transactional
// handler, with the handler's ctx, it buffers them instead, to be committed
// with the handled message's acknowledgement. When some messages fail it returns a
// *PublishError naming them; the others were published.
func (b *Bus) Publish(ctx context.Context, topic string, msgs ...*Message) error {
	if err := b.startPublish(topic); err != nil {
		return err
	}
	defer b.endPublish()
	if len(msgs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		// A caller that retries on error must not duplicate anything.
		return fmt.Errorf("eventbus: publish %d messages to %q: none published: %w", len(msgs), topic, err)
	}
	buf := publishBuffers.Get().(*[]driver.Message)
	defer func() {
		clear(*buf)
		*buf = (*buf)[:0]
		publishBuffers.Put(buf)
	}()
	now := time.Now().Round(0)
	// Times to the millisecond, the precision of Kafka's and Pulsar's own
	// timestamps, so that the Pulsar event time carries them whole.
	nowMillis := now.Add(-time.Duration(now.Nanosecond() % int(time.Millisecond)))
	for i, m := range msgs {
		if m == nil {
			return fmt.Errorf("eventbus: publish to %q: message %d is nil", topic, i)
		}
		if m.ID == "" {
			m.ID = newID(now)
		}
		if m.Time.IsZero() {
			m.Time = nowMillis
		}
		if err := checkUTF8(m); err != nil {
			return fmt.Errorf("%w: publish to %q: message %d (id %q): %w", ErrInvalidMessage, topic, i, m.ID, err)
		}
		dm := driver.Message{ID: m.ID, Key: m.Key, Payload: m.Payload, Header: m.Header, Time: m.Time, DeliverAt: m.DeliverAt}
		if b.structured {
			if err := driver.WriteStructured(&dm); err != nil {
				return fmt.Errorf("%w: publish to %q: message %d (id %q): %w", ErrInvalidMessage, topic, i, m.ID, err)
			}
		}
		if err := driver.CheckSize(&dm, b.caps.MaxMessageBytes); err != nil {
			return fmt.Errorf("eventbus: publish to %q: message %d (id %s): %w", topic, i, m.ID, err)
		}
		*buf = append(*buf, dm)
	}
	span := b.tel.startSend(ctx, topic, msgs, *buf)
	if run := runOutputsOf(ctx, b); run != nil {
		err := b.publishInRun(ctx, run, topic, *buf)
		span.end(err)
		return err
	}
	err := b.send(ctx, topic, *buf, now)
	span.end(err)
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

// publishInRun buffers msgs in a transactional handler run, to be
// committed with its acknowledgement. A missing topic fails here, where
// the handler can see it, rather than at the commit.
func (b *Bus) publishInRun(ctx context.Context, run *runOutputs, topic string, msgs []driver.Message) error {
	if ensurer, ok := b.conn.(driver.TopicEnsurer); ok {
		if err := ensurer.EnsureTopic(ctx, topic); err != nil {
			return fmt.Errorf("eventbus: publish to %q: %w", topic, err)
		}
	}
	return run.add(topic, msgs)
}

// checkUTF8 reports the first header name or value, or an ID, that is not
// valid UTF-8: CloudEvents bindings (Kafka headers, Pulsar properties) carry
// only text.
func checkUTF8(m *Message) error {
	if !utf8.ValidString(m.ID) {
		return errors.New("the ID is not valid UTF-8")
	}
	for k, v := range m.Header {
		if !utf8.ValidString(k) {
			return fmt.Errorf("header name %q is not valid UTF-8", k)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("header %q: value is not valid UTF-8", k)
		}
	}
	return nil
}

func (b *Bus) startPublish(topic string) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	for {
		n := b.publishing.Load()
		if n&publishClosed != 0 {
			return fmt.Errorf("eventbus: publish to %q: %w", topic, ErrClosed)
		}
		if b.publishing.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}

func (b *Bus) endPublish() {
	if b.publishing.Add(-1) == publishClosed {
		close(b.published) // the last one after Close
	}
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
		publishing := b.publishing.Or(publishClosed)
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
		// No Publish starts once closed is set: with none in progress
		// there is nothing to wait for, even when ctx is already done.
		if publishing != 0 {
			if err := await(ctx, b.published); err != nil {
				errs[len(subs)] = fmt.Errorf("eventbus: close: waiting for %d publishes in progress: %w",
					b.publishing.Load()&^publishClosed, err)
			}
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
