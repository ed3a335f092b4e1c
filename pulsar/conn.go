package pulsar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/pulsar-client-go/pulsar"
	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/apache/pulsar-client-go/pulsaradmin"
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
	admin  pulsaradmin.Client // nil without adminURL
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
	// pending counts sends not yet called back, so Close flushes only a
	// producer that has something to flush.
	pending atomic.Int64
}

func open(ctx context.Context, oc driver.OpenConfig) (driver.Conn, error) {
	cfg, err := parseConfig(oc)
	if err != nil {
		return nil, err
	}
	opts := cfg.clientOptions()
	opts.Logger = pulsarlog.NewLoggerWithSlog(slog.New(quietHandler{oc.Logger.Handler()}))
	if err := cfg.reach(ctx); err != nil {
		return nil, fmt.Errorf("pulsar: connect to %s: %w", cfg.serviceURL, err)
	}
	client, err := pulsar.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("pulsar: new client for %s: %w", cfg.serviceURL, err)
	}
	admin, err := cfg.newAdmin()
	if err != nil {
		client.Close()
		return nil, err
	}
	return &conn{cfg: cfg, client: client, admin: admin, logger: oc.Logger, producers: make(map[string]*producerEntry)}, nil
}

func (c *conn) topic(name string) (string, error) {
	return fullTopicName(name, c.cfg.tenant, c.cfg.namespace)
}

// producer returns the cached producer of a full topic name, creating it on
// first use. CreateProducer takes no ctx: it runs on its own, and every
// caller waits for it or for its own ctx.
func (c *conn) producer(ctx context.Context, topic string) (*producerEntry, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, driver.ErrClosed
	}
	e, ok := c.producers[topic]
	if !ok {
		e = &producerEntry{ready: make(chan struct{})}
		c.producers[topic] = e
		go c.createProducer(topic, e)
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e, e.err
	case <-ctx.Done():
		return nil, fmt.Errorf("create producer: %w", ctx.Err())
	}
}

func (c *conn) createProducer(topic string, e *producerEntry) {
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
		e.err = fmt.Errorf("create producer: %w", mapError(e.err))
		// Forget the failure so a later publish tries again.
		c.mu.Lock()
		if c.producers[topic] == e {
			delete(c.producers, topic)
		}
		c.mu.Unlock()
	}
	close(e.ready)
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pulsar: publish to %s: none published: %w", full, err)
	}
	e, err := c.producer(ctx, full)
	if err != nil {
		return fmt.Errorf("pulsar: publish to %s: none published: %w", full, err)
	}
	// Callbacks may still run after a cancelled ctx made us return, so
	// they write into their own state, copied under mu.
	var (
		mu      sync.Mutex
		errs    = make(driver.MessageErrors, len(msgs))
		settled = make([]bool, len(msgs))
		failed  bool
		pending = len(msgs)
		done    = make(chan struct{})
	)
	settle := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		settled[i] = true
		if err != nil {
			errs[i] = err
			failed = true
		}
		if pending--; pending == 0 {
			close(done)
		}
	}
	for i := range msgs {
		m := &msgs[i]
		if err := ctx.Err(); err != nil {
			settle(i, fmt.Errorf("pulsar: publish to %s: not published: %w", full, err))
			continue
		}
		pm := &pulsar.ProducerMessage{
			Payload:    m.Payload,
			Key:        m.Key,
			EventTime:  eventTime(m.Time),
			DeliverAt:  m.DeliverAt,
			Properties: make(map[string]string, len(m.Header)+5),
		}
		driver.EncodeHeaders(m, func(k, v string) { pm.Properties[k] = v })
		if size, limit := wireSize(pm, c.cfg.batching), c.cfg.brokerMaxMessageSize(); size > limit {
			settle(i, fmt.Errorf("pulsar: publish to %s: %w: the client counts %d bytes (with batching, key and headers count twice), the broker takes at most %d",
				full, driver.ErrMessageTooLarge, size, limit))
			continue
		}
		e.pending.Add(1)
		e.producer.SendAsync(ctx, pm, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			e.pending.Add(-1)
			if err != nil {
				err = fmt.Errorf("pulsar: publish to %s: %w", full, mapError(err))
			}
			settle(i, err)
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		if pending == 0 { // all settled meanwhile
			break
		}
		out := slices.Clone(errs)
		for i, ok := range settled {
			if !ok {
				out[i] = fmt.Errorf("pulsar: publish to %s: not confirmed yet, the message may still be delivered: %w", full, ctx.Err())
			}
		}
		return out
	}
	if failed {
		return errs
	}
	return nil
}

// Capabilities reports the configured message size limit; Attempt counts
// the broker's redelivery count.
func (c *conn) Capabilities() driver.Capabilities {
	_, hosts, _ := strings.Cut(c.cfg.serviceURL, "://")
	address, port := driver.FirstServer(hosts, 6650)
	return driver.Capabilities{MaxMessageBytes: c.cfg.maxMessageBytes, RedeliveryCount: true,
		System: "pulsar", ServerAddress: address, ServerPort: port, DelayedDelivery: true}
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
			if !isClosed(e.ready) || e.producer == nil {
				// Nothing was sent on a producer still being
				// created; closing the client ends its creation.
				return
			}
			// Nothing pending, nothing to flush: a done ctx is no failure.
			if n := e.pending.Load(); n > 0 {
				if err := e.producer.FlushWithCtx(ctx); err != nil {
					errs[i] = fmt.Errorf("pulsar: flush producer of %s with %d messages pending: %w", e.producer.Topic(), n, err)
				}
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
