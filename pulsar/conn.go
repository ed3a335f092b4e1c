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

	// mu guards producers; Close sets closed under it, so that no
	// producer is created once Close has collected them.
	mu        sync.Mutex
	closed    driver.CloseFlag
	producers map[string]*producerEntry // by full topic name

	// stopFlushers ends the flushEagerly and discoverPartitions
	// goroutines at Close, and flushers counts them.
	stopFlushers context.CancelFunc
	flushersCtx  context.Context
	flushers     sync.WaitGroup
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
	c := &conn{cfg: cfg, client: client, admin: admin, logger: oc.Logger, producers: make(map[string]*producerEntry)}
	c.flushersCtx, c.stopFlushers = context.WithCancel(context.Background())
	return c, nil
}

func (c *conn) topic(name string) (string, error) {
	return fullTopicName(name, c.cfg.tenant, c.cfg.namespace)
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
		flush   []*partProducer // the partitions sent to
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
		pm := producerMessage(m)
		if size, limit := wireSize(pm, c.cfg.batching), c.cfg.brokerMaxMessageSize(); size > limit {
			settle(i, fmt.Errorf("pulsar: publish to %s: %w: the client counts %d bytes (with batching, key and headers count twice), the broker takes at most %d",
				full, driver.ErrMessageTooLarge, size, limit))
			continue
		}
		p := e.partition(pm)
		p.pending.Add(1)
		p.producer.SendAsync(ctx, pm, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			p.pending.Add(-1)
			if err != nil {
				err = fmt.Errorf("pulsar: publish to %s: %w", full, mapError(err))
			}
			settle(i, err)
		})
		if !slices.Contains(flush, p) {
			flush = append(flush, p)
		}
	}
	// The flushes are asked for once the Publish has added all it has to
	// the batches.
	for _, p := range flush {
		c.wantFlush(p)
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
	return driver.Capabilities{MaxMessageBytes: c.cfg.maxMessageBytes,
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
	if !c.closed.Close() {
		c.mu.Unlock()
		return nil
	}
	entries := slices.Collect(maps.Values(c.producers))
	c.mu.Unlock()
	c.stopFlushers()
	c.flushers.Wait()

	var parts []*partProducer
	for _, e := range entries {
		if !driver.Closed(e.ready) || e.err != nil {
			// Nothing was sent on a producer still being created;
			// closing the client ends its creation.
			continue
		}
		parts = append(parts, *e.parts.Load()...)
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			// Nothing pending, nothing to flush: a done ctx is no failure.
			if n := p.pending.Load(); n > 0 {
				if err := p.producer.FlushWithCtx(ctx); err != nil {
					errs[i] = fmt.Errorf("pulsar: flush producer of %s with %d messages pending: %w", p.producer.Topic(), n, err)
				}
			}
			p.producer.Close()
		})
	}
	wg.Wait()
	c.client.Close()
	return errors.Join(errs...)
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
