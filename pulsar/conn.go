package pulsar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/apache/pulsar-client-go/pulsar"
	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
)

func init() {
	bus.Register("pulsar", open)
	bus.Register("pulsar+ssl", open)
}

// conn is a driver.Conn over one pulsar.Client.
type conn struct {
	cfg    *config
	client pulsar.Client
	logger *slog.Logger

	mu        sync.Mutex
	closed    bool
	producers map[string]*producerEntry // by full topic name
}

// producerEntry is a cached producer; ready is closed once producer or err
// is set, so concurrent first publishes to a topic create it only once.
type producerEntry struct {
	ready    chan struct{}
	producer pulsar.Producer
	err      error
}

func open(ctx context.Context, oc driver.OpenConfig) (driver.Conn, error) {
	cfg, err := parseConfig(oc)
	if err != nil {
		return nil, err
	}
	opts := cfg.clientOptions()
	opts.Logger = pulsarlog.NewLoggerWithSlog(slog.New(quietHandler{oc.Logger.Handler()}))
	client, err := pulsar.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("pulsar: new client for %s: %w", cfg.serviceURL, err)
	}
	return &conn{cfg: cfg, client: client, logger: oc.Logger, producers: make(map[string]*producerEntry)}, nil
}

func (c *conn) topic(name string) (string, error) {
	return fullTopicName(name, c.cfg.tenant, c.cfg.namespace)
}

// producer returns the cached producer of a full topic name, creating it on
// first use.
func (c *conn) producer(ctx context.Context, topic string) (pulsar.Producer, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, driver.ErrClosed
	}
	e, ok := c.producers[topic]
	if !ok {
		e = &producerEntry{ready: make(chan struct{})}
		c.producers[topic] = e
	}
	c.mu.Unlock()
	if !ok {
		e.producer, e.err = c.client.CreateProducer(pulsar.ProducerOptions{
			Topic: topic,
			// Key-based batches hold one key each, so a Key_Shared
			// subscription can hand each batch to the key's consumer.
			BatcherBuilderType:      pulsar.KeyBasedBatchBuilder,
			DisableBatching:         !c.cfg.batching,
			BatchingMaxPublishDelay: c.cfg.batchingMaxPublishDelay,
			BatchingMaxMessages:     uint(c.cfg.batchingMaxMessages),
			MaxPendingMessages:      c.cfg.maxPendingMessages,
			SendTimeout:             c.cfg.sendTimeout,
		})
		if e.err != nil {
			e.err = fmt.Errorf("create producer: %w", e.err)
			// Forget the failure so a later publish tries again.
			c.mu.Lock()
			delete(c.producers, topic)
			c.mu.Unlock()
		}
		close(e.ready)
	}
	select {
	case <-e.ready:
		return e.producer, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Publish sends every message asynchronously, so they batch, and waits for
// all the send callbacks.
func (c *conn) Publish(ctx context.Context, topic string, msgs []driver.Message) error {
	full, err := c.topic(topic)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	p, err := c.producer(ctx, full)
	if err != nil {
		return fmt.Errorf("pulsar: publish to %s: %w", full, err)
	}
	// Callbacks may still run after a cancelled ctx made us return, so
	// they write into their own state, read only once all are done.
	var (
		mu      sync.Mutex
		errs    = make(driver.MessageErrors, len(msgs))
		failed  bool
		pending = len(msgs)
		done    = make(chan struct{})
	)
	for i := range msgs {
		m := &msgs[i]
		pm := &pulsar.ProducerMessage{
			Payload:    m.Payload,
			Key:        m.Key,
			EventTime:  m.Time,
			DeliverAt:  m.DeliverAt,
			Properties: make(map[string]string, len(m.Header)+5),
		}
		driver.EncodeHeaders(m, func(k, v string) { pm.Properties[k] = v })
		p.SendAsync(ctx, pm, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[i] = err
				failed = true
			}
			if pending--; pending == 0 {
				close(done)
			}
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("pulsar: publish to %s: %w", full, ctx.Err())
	}
	if failed {
		return errs
	}
	return nil
}

// Capabilities reports the configured message size limit; Attempt counts
// the broker's redelivery count.
func (c *conn) Capabilities() driver.Capabilities {
	return driver.Capabilities{MaxMessageBytes: c.cfg.maxMessageBytes, RedeliveryCount: true, DelayedDelivery: true}
}

// As sets a *pulsar.Client target to the connection's client.
func (c *conn) As(target any) bool {
	if t, ok := target.(*pulsar.Client); ok && t != nil {
		*t = c.client
		return true
	}
	return false
}

// Close flushes every producer within ctx, then closes the producers and
// the client. pulsar-client-go fails pending sends on Close, hence the
// flush first.
func (c *conn) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	entries := slices.Collect(maps.Values(c.producers))
	c.mu.Unlock()

	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() {
			if !isClosed(e.ready) {
				select {
				case <-e.ready:
				case <-ctx.Done():
					errs[i] = fmt.Errorf("pulsar: close: producer still being created: %w", ctx.Err())
					return
				}
			}
			if e.producer == nil {
				return
			}
			if err := e.producer.FlushWithCtx(ctx); err != nil {
				errs[i] = fmt.Errorf("pulsar: flush producer of %s: %w", e.producer.Topic(), err)
			}
			e.producer.Close()
		})
	}
	wg.Wait()
	c.client.Close()
	return errors.Join(errs...)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// quietHandler turns pulsar-client-go's chatty Info logs (connections,
// producers and consumers coming and going) into Debug.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, demote(l))
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(attrs)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}
