package pulsar

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// producerCache holds one producer per full topic name. The connection has
// one for Publish; each transactional subscription has its own, because
// pulsar-client-go puts a batch in the transaction of its first message:
// a producer must not carry messages of two transactions, or of one and
// none, at once.
type producerCache struct {
	client   pulsar.Client
	cfg      *config
	batching bool

	mu      sync.Mutex
	closed  bool
	entries map[string]*producerEntry // by full topic name
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

func newProducerCache(client pulsar.Client, cfg *config, batching bool) *producerCache {
	return &producerCache{client: client, cfg: cfg, batching: batching, entries: make(map[string]*producerEntry)}
}

// get returns the cached producer of a full topic name, creating it on
// first use. CreateProducer takes no ctx: it runs on its own, and every
// caller waits for it or for its own ctx.
func (pc *producerCache) get(ctx context.Context, topic string) (*producerEntry, error) {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return nil, driver.ErrClosed
	}
	e, ok := pc.entries[topic]
	if !ok {
		e = &producerEntry{ready: make(chan struct{})}
		pc.entries[topic] = e
		go pc.create(topic, e)
	}
	pc.mu.Unlock()
	select {
	case <-e.ready:
		return e, e.err
	case <-ctx.Done():
		return nil, fmt.Errorf("create producer: %w", ctx.Err())
	}
}

func (pc *producerCache) create(topic string, e *producerEntry) {
	e.producer, e.err = pc.client.CreateProducer(pulsar.ProducerOptions{
		Topic: topic,
		// Key-based batches hold one key each, so a Key_Shared
		// subscription can hand each batch to the key's consumer.
		BatcherBuilderType:      pulsar.KeyBasedBatchBuilder,
		DisableBatching:         !pc.batching,
		BatchingMaxPublishDelay: pc.cfg.batchingMaxPublishDelay,
		BatchingMaxMessages:     uint(pc.cfg.batchingMaxMessages),
		MaxPendingMessages:      pc.cfg.maxPendingMessages,
		SendTimeout:             pc.cfg.sendTimeout,
	})
	if e.err != nil {
		e.err = fmt.Errorf("create producer: %w", mapError(e.err))
		// Forget the failure so a later publish tries again.
		pc.mu.Lock()
		if pc.entries[topic] == e {
			delete(pc.entries, topic)
		}
		pc.mu.Unlock()
	}
	close(e.ready)
}

// close flushes every producer within ctx, then closes them.
// pulsar-client-go fails pending sends on Close, hence the flush first.
func (pc *producerCache) close(ctx context.Context) error {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return nil
	}
	pc.closed = true
	entries := slices.Collect(maps.Values(pc.entries))
	pc.mu.Unlock()

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
	return errors.Join(errs...)
}

// producerMessage is m as pulsar-client-go sends it to the full topic
// name, or an error wrapping ErrMessageTooLarge when the client would
// refuse it.
func (c *conn) producerMessage(topic string, m *driver.Message) (*pulsar.ProducerMessage, error) {
	pm := &pulsar.ProducerMessage{
		Payload:    m.Payload,
		Key:        m.Key,
		EventTime:  eventTime(m.Time),
		DeliverAt:  m.DeliverAt,
		Properties: make(map[string]string, len(m.Header)+5),
	}
	driver.EncodeHeaders(m, func(k, v string) { pm.Properties[k] = v })
	if size, limit := wireSize(pm, c.cfg.batching), c.cfg.brokerMaxMessageSize(); size > limit {
		return nil, fmt.Errorf("pulsar: publish to %s: %w: the client counts %d bytes (with batching, key and headers count twice), the broker takes at most %d",
			topic, driver.ErrMessageTooLarge, size, limit)
	}
	return pm, nil
}
