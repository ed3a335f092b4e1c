package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// BenchmarkTransform is consume-transform-produce on the real broker: a
// group turns every message of a prefilled topic into one output, plain
// (the handler's Publish waits for the broker) or Transactional (outputs
// commit with the acks). It reports msgs/s from the first handler run
// until a reader of the outputs has read the last one.
func BenchmarkTransform(b *testing.B) {
	testbroker.Kafka(b)
	c := benchCluster{name: "real", backend: realBackend(b), servers: envKafka(), consume: 20000}
	in := c.backend.topic(b, 6)
	prefill(b, c.servers, in, c.consume)
	var groups atomic.Int64
	for _, concurrency := range []int{8, 64} {
		for _, transactional := range []bool{false, true} {
			name := "plain"
			if transactional {
				name = "transactional"
			}
			b.Run(fmt.Sprintf("%s/concurrency=%d", name, concurrency), func(b *testing.B) {
				benchTransform(b, c, in, &groups, concurrency, transactional)
			})
		}
	}
}

func benchTransform(b *testing.B, c benchCluster, in string, groups *atomic.Int64, concurrency int, transactional bool) {
	eb := c.backend.open(b, "create_topics=true") // the fresh topics may not be in its metadata yet
	benchConsume(b, c.consume, func(n int, first, done func()) func() {
		out := c.backend.topic(b, 6)
		// The reader reads a probe first, so its group has its partitions
		// before the clock starts.
		var read atomic.Int64
		ready := make(chan struct{})
		reader, err := eb.Subscribe(context.Background(), out, func(context.Context, *bus.Message) error {
			switch read.Add(1) {
			case 1:
				close(ready)
			case int64(n) + 1:
				done()
			}
			return nil
		}, bus.Group(fmt.Sprint("bench-reader-", time.Now().UnixNano(), groups.Add(1))), bus.Concurrency(8))
		require.NoError(b, err)
		require.NoError(b, eb.Publish(context.Background(), out, &bus.Message{Payload: []byte("probe")}))
		<-ready
		opts := []bus.SubscribeOption{bus.Group(fmt.Sprint("bench-transform-", time.Now().UnixNano(), groups.Add(1))), bus.Concurrency(concurrency)}
		if transactional {
			opts = append(opts, bus.Transactional())
		}
		var once sync.Once
		sub, err := eb.Subscribe(context.Background(), in, func(ctx context.Context, m *bus.Message) error {
			once.Do(first)
			return eb.Publish(ctx, out, &bus.Message{Key: m.Key, Payload: m.Payload})
		}, opts...)
		require.NoError(b, err)
		return func() {
			require.NoError(b, sub.Close(context.Background()))
			require.NoError(b, reader.Close(context.Background()))
		}
	})
}

// BenchmarkTransformLatency sends one input at a time through a
// transform subscription, plain or Transactional, and waits for its
// output at a reader: ns/op is the latency under no load, where each
// transaction carries one message.
func BenchmarkTransformLatency(b *testing.B) {
	testbroker.Kafka(b)
	be := realBackend(b)
	for _, transactional := range []bool{false, true} {
		name := "plain"
		if transactional {
			name = "transactional"
		}
		b.Run(name, func(b *testing.B) {
			eb := be.open(b, "create_topics=true")
			in, out := be.topic(b, 1), be.topic(b, 1)
			outputs := make(chan struct{}, 1)
			_, err := eb.Subscribe(b.Context(), out, func(context.Context, *bus.Message) error {
				outputs <- struct{}{}
				return nil
			}, bus.Group("bench-reader-"+out))
			require.NoError(b, err)
			opts := []bus.SubscribeOption{bus.Group("bench-transform-" + in)}
			if transactional {
				opts = append(opts, bus.Transactional())
			}
			_, err = eb.Subscribe(b.Context(), in, func(ctx context.Context, m *bus.Message) error {
				return eb.Publish(ctx, out, &bus.Message{Key: m.Key, Payload: m.Payload})
			}, opts...)
			require.NoError(b, err)
			roundTrip := func() {
				require.NoError(b, eb.Publish(b.Context(), in, &bus.Message{Key: "k", Payload: benchPayload}))
				select {
				case <-outputs:
				case <-time.After(time.Minute):
					b.Fatal("no output within a minute")
				}
			}
			roundTrip() // partitions assigned, producers ready
			b.ResetTimer()
			for range b.N {
				roundTrip()
			}
		})
	}
}
