package bench

import (
	"context"
	"fmt"
	"net/url"
	"sync"

	"github.com/eventbus-go/eventbus/bus"
)

// Setup creates and fills the topics of a run on one backend, through
// eventbus, before any contender's process starts.
type Setup struct {
	bus *bus.Bus
	cfg Config
}

// OpenSetup connects to backend (kafka or pulsar).
func OpenSetup(ctx context.Context, cfg Config, backend string) (*Setup, error) {
	var rawURL string
	switch backend {
	case "kafka":
		rawURL = "kafka://" + cfg.Kafka
	case "pulsar":
		rawURL = cfg.Pulsar + "?adminURL=" + url.QueryEscape(cfg.PulsarAdmin)
	default:
		return nil, fmt.Errorf("bench: %s has no topics to set up", backend)
	}
	b, err := bus.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return &Setup{bus: b, cfg: cfg}, nil
}

// setupParallelism bounds the admin requests and producers in flight.
const setupParallelism = 8

// CreateTopics creates topics with the given number of partitions.
func (s *Setup) CreateTopics(ctx context.Context, topics []string, partitions int) error {
	return parallel(ctx, topics, func(topic string) error { return s.bus.CreateTopic(ctx, topic, partitions) })
}

// Fill publishes n messages to topic in batches.
func (s *Setup) Fill(ctx context.Context, topic string, n int) error {
	payload := make([]byte, s.cfg.PayloadBytes)
	keys := keys(s.cfg.Keys)
	var batches []int
	for sent := 0; sent < n; sent += s.cfg.Batch {
		batches = append(batches, min(s.cfg.Batch, n-sent))
	}
	return parallel(ctx, batches, func(size int) error {
		msgs := make([]*bus.Message, size)
		for i := range msgs {
			msgs[i] = &bus.Message{Key: keys[i%len(keys)], Payload: payload}
		}
		return s.bus.Publish(ctx, topic, msgs...)
	})
}

// FillEach publishes one message to each of topics.
func (s *Setup) FillEach(ctx context.Context, topics []string) error {
	payload := make([]byte, s.cfg.PayloadBytes)
	return parallel(ctx, topics, func(topic string) error {
		return s.bus.Publish(ctx, topic, &bus.Message{Key: keys(1)[0], Payload: payload})
	})
}

// parallel calls do for every item, setupParallelism at a time, and
// returns the first error.
func parallel[T any](ctx context.Context, items []T, do func(T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan T)
	errs := make(chan error, setupParallelism)
	var wg sync.WaitGroup
	for range min(setupParallelism, len(items)) {
		wg.Go(func() {
			for item := range work {
				if err := do(item); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for _, item := range items {
		select {
		case work <- item:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// Close disconnects.
func (s *Setup) Close(ctx context.Context) error { return s.bus.Close(ctx) }
