package pulsar

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// maxBatchBytes is pulsar-client-go's default BatchingMaxSize, which the
// router uses to spread keyless messages over partitions batch by batch.
const maxBatchBytes = 128 << 10

// flushesInFlight is how many flushes of one partition's batches may wait
// for the broker at a time. With one, a message published while a flush
// is in flight waits for that flush and then for its own: up to two round
// trips, and a broker hiccup holding the one flush holds every message
// behind it. With two, such a message goes out at once, and only those
// published while two flushes are in flight gather for the next. At the
// rates where batches fill, they go by size either way.
const flushesInFlight = 2

// producerEntry is a topic's cached producers, one per partition, so that
// each partition's batches are flushed on their own: pulsar-client-go's
// partitioned producer flushes its partitions one after another, each
// waiting for the broker, so a message on the last partition waited for
// every other partition's round trip. Messages go to partitions as that
// producer routes them: by the hash of the key, keyless ones round-robin
// a batch at a time. ready is closed once parts or err is set, so
// concurrent first publishes to a topic create the producers only once.
type producerEntry struct {
	ready chan struct{}
	err   error
	// parts holds the producers in partition order; it only grows, as
	// partition discovery finds new partitions.
	parts atomic.Pointer[[]*partProducer]
	route func(*pulsar.ProducerMessage, uint32) int
}

// partProducer is the producer of one partition (or of a topic without
// partitions).
type partProducer struct {
	producer pulsar.Producer
	// pending counts sends not yet called back, so Close flushes only a
	// producer that has something to flush.
	pending atomic.Int64
	// eager is batching with eager flush: a Publish has the batches
	// flushed (wantFlush).
	eager bool

	mu       sync.Mutex
	flushing int  // flushes in flight, up to flushesInFlight
	wanted   bool // a flush was asked for while flushesInFlight were
}

// partition is the producer m goes to.
func (e *producerEntry) partition(m *pulsar.ProducerMessage) *partProducer {
	parts := *e.parts.Load()
	if len(parts) == 1 {
		return parts[0]
	}
	return parts[e.route(m, uint32(len(parts)))]
}

// wantFlush has p's open batches sent, when batching eagerly: at once by
// a flush of its own, unless flushesInFlight flushes wait for the broker
// already; then by the first of them to finish.
func (c *conn) wantFlush(p *partProducer) {
	if !p.eager {
		return
	}
	p.mu.Lock()
	if p.flushing == flushesInFlight {
		p.wanted = true
		p.mu.Unlock()
		return
	}
	p.flushing++
	p.mu.Unlock()
	// Close waits for the flushes it did not prevent, and flushes what
	// is pending itself.
	c.mu.Lock()
	closed := c.closed.IsClosed()
	if !closed {
		c.flushers.Add(1)
	}
	c.mu.Unlock()
	if closed {
		p.mu.Lock()
		p.flushing--
		p.mu.Unlock()
		return
	}
	go c.flushEagerly(p)
}

// javaStringHash is pulsar-client-go's default key hash (JavaStringHash):
// Java's String.hashCode over the key's bytes.
func javaStringHash(s string) uint32 {
	var h uint32
	for i := range len(s) {
		h = 31*h + uint32(s[i])
	}
	return h
}

// producer returns the cached producers of a full topic name, creating
// them on first use. CreateProducer takes no ctx: it runs on its own, and
// every caller waits for it or for its own ctx.
func (c *conn) producer(ctx context.Context, topic string) (*producerEntry, error) {
	c.mu.Lock()
	if c.closed.IsClosed() {
		c.mu.Unlock()
		return nil, driver.ErrClosed
	}
	e, ok := c.producers[topic]
	if !ok {
		e = &producerEntry{
			ready: make(chan struct{}),
			route: pulsar.NewDefaultRouter(javaStringHash, uint(c.cfg.batchingMaxMessages),
				maxBatchBytes, c.cfg.batchingMaxPublishDelay, !c.cfg.batching),
		}
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
	defer close(e.ready)
	names, err := c.client.TopicPartitions(topic)
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("topic %s has no partitions", topic)
	}
	var parts []*partProducer
	if err == nil {
		parts, err = c.createPartProducers(names)
	}
	if err != nil {
		e.err = fmt.Errorf("create producer: %w", mapError(err))
		// Forget the failure so a later publish tries again.
		c.mu.Lock()
		if c.producers[topic] == e {
			delete(c.producers, topic)
		}
		c.mu.Unlock()
		return
	}
	e.parts.Store(&parts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.IsClosed() {
		return // Close has waited for the flushers already; it closes parts
	}
	if len(names) > 1 || names[0] != topic {
		c.flushers.Add(1)
		go c.discoverPartitions(topic, e)
	}
}

// createPartProducers creates the producers of the named partitions at
// once, and closes those it made if any fails.
func (c *conn) createPartProducers(names []string) ([]*partProducer, error) {
	parts := make([]*partProducer, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			p, err := c.client.CreateProducer(pulsar.ProducerOptions{
				Topic: name,
				// Key-based batches hold one key each, so a Key_Shared
				// subscription can hand each batch to the key's consumer.
				BatcherBuilderType:      pulsar.KeyBasedBatchBuilder,
				DisableBatching:         !c.cfg.batching,
				BatchingMaxPublishDelay: c.cfg.batchingMaxPublishDelay,
				BatchingMaxMessages:     uint(c.cfg.batchingMaxMessages),
				MaxPendingMessages:      c.cfg.maxPendingMessages,
				SendTimeout:             c.cfg.sendTimeout,
				// A partition has no partitions to discover;
				// discoverPartitions looks for the topic's.
				PartitionsAutoDiscoveryInterval: math.MaxInt64,
			})
			parts[i] = &partProducer{producer: p, eager: c.cfg.batching && c.cfg.batchingEagerFlush}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for i, p := range parts {
			if errs[i] == nil {
				p.producer.Close()
			}
		}
		return nil, err
	}
	return parts, nil
}

// flushEagerly sends a partition's open batches, and again while a
// Publish asked for it meanwhile and found flushesInFlight flushes under
// way; then it ends. The messages published while that many flushes wait
// for the broker so gather into the next batches. Under light load a
// message waits about one broker round trip rather than
// batchingMaxPublishDelay; under heavy load batches fill up and go by
// size while flushes are in flight, as they would without them.
func (c *conn) flushEagerly(p *partProducer) {
	defer c.flushers.Done()
	for {
		// A failed send reports to its own callback; the flush's error
		// adds nothing.
		_ = p.producer.FlushWithCtx(c.flushersCtx)
		p.mu.Lock()
		if !p.wanted || c.flushersCtx.Err() != nil {
			p.flushing--
			p.mu.Unlock()
			return
		}
		p.wanted = false
		p.mu.Unlock()
	}
}

// discoverPartitions adds producers for partitions added to a partitioned
// topic, until Close. A failed lookup or creation is tried again on the
// next tick.
func (c *conn) discoverPartitions(topic string, e *producerEntry) {
	defer c.flushers.Done()
	ticker := time.NewTicker(c.cfg.partitionsDiscovery)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-c.flushersCtx.Done():
			return
		}
		old := *e.parts.Load()
		names, err := c.client.TopicPartitions(topic)
		if err != nil || len(names) <= len(old) {
			continue
		}
		added, err := c.createPartProducers(names[len(old):])
		if err != nil {
			c.logger.Warn("pulsar: producers for new partitions", "topic", topic, "error", err)
			continue
		}
		c.mu.Lock()
		if c.closed.IsClosed() {
			c.mu.Unlock()
			for _, p := range added {
				p.producer.Close()
			}
			return
		}
		parts := append(old[:len(old):len(old)], added...)
		e.parts.Store(&parts)
		c.mu.Unlock()
	}
}
