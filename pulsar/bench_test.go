package pulsar_test

import (
	"context"
	"encoding/binary"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apachepulsar "github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	"github.com/stretchr/testify/require"
)

// The benchmarks run eventbus and the raw client side by side on the same
// broker, with the same producer and consumer settings, and report msgs/s.
//
//	go test -run '^$' -bench . -benchtime 200000x ./pulsar/

const (
	benchPayloadBytes = 256
	benchKeys         = 100
	// benchChunk messages go in one Publish call, from benchPublishers
	// goroutines at once: a service publishing from many handlers.
	benchChunk      = 100
	benchPublishers = 64
)

var benchPayload = make([]byte, benchPayloadBytes)

func rawClient(b testing.TB) apachepulsar.Client {
	b.Helper()
	client, err := apachepulsar.NewClient(apachepulsar.ClientOptions{URL: testbroker.Pulsar(b), Logger: quietPulsarLogger()})
	require.NoError(b, err)
	b.Cleanup(client.Close)
	return client
}

func rawProducer(b *testing.B, client apachepulsar.Client, topic string) apachepulsar.Producer {
	b.Helper()
	p, err := client.CreateProducer(apachepulsar.ProducerOptions{
		Topic:                   "persistent://public/default/" + topic,
		BatcherBuilderType:      apachepulsar.KeyBasedBatchBuilder,
		BatchingMaxPublishDelay: 10 * time.Millisecond,
		MaxPendingMessages:      10000,
	})
	require.NoError(b, err)
	b.Cleanup(p.Close)
	return p
}

// rawSend sends n messages with SendAsync and waits for every callback.
func rawSend(b *testing.B, p apachepulsar.Producer, n int) { rawSendAs(b, p, n, bare) }

// A wire format for the raw producer: what goes beside key and payload.
type wireFormat func(m *apachepulsar.ProducerMessage)

// bare messages carry key and payload only.
func bare(*apachepulsar.ProducerMessage) {}

// fiveProperties is the wire format of earlier eventbus versions, five
// ce_* string properties per message.
func fiveProperties(m *apachepulsar.ProducerMessage) {
	m.Properties = map[string]string{
		"ce_specversion": "1.0", "ce_id": "01a20066-d5eb-74d4-8b1f-01d66830ece2",
		"ce_time": "2026-11-21T23:17:49.163301874Z", "ce_type": "eventbus.message", "ce_source": "eventbus",
	}
}

// eventbusMapping is what eventbus writes for a message without headers:
// the ID property and the event time.
func eventbusMapping(m *apachepulsar.ProducerMessage) {
	m.Properties = map[string]string{"ce_id": "01a20066-d5eb-74d4-8b1f-01d66830ece2"}
	m.EventTime = time.UnixMilli(1795302469163)
}

// rawSendAs is rawSend of messages in the given wire format.
func rawSendAs(b *testing.B, p apachepulsar.Producer, n int, format wireFormat) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	wg.Add(n)
	for i := range n {
		m := &apachepulsar.ProducerMessage{Payload: benchPayload, Key: strconv.Itoa(i % benchKeys)}
		format(m)
		p.SendAsync(context.Background(), m, func(_ apachepulsar.MessageID, _ *apachepulsar.ProducerMessage, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	require.Zero(b, failed.Load())
}

// reportRate reports msgs/s since start and the process's CPU time per
// message since cpu (bustest.ProcessCPU): the client's share, not the
// broker's.
func reportRate(b *testing.B, start time.Time, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(bustest.ProcessCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/msg")
}

func BenchmarkPublish(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		p := rawProducer(b, rawClient(b), newTopic(b))
		rawSend(b, p, 1) // connect before timing
		b.ResetTimer()
		start, cpu := time.Now(), bustest.ProcessCPU()
		rawSend(b, p, b.N)
		reportRate(b, start, cpu)
	})
	// The same in the wire format of earlier versions, and in eventbus's:
	// what the wire format costs.
	for _, v := range []struct {
		name   string
		format wireFormat
	}{{"raw-five-properties", fiveProperties}, {"raw-eventbus-mapping", eventbusMapping}} {
		b.Run(v.name, func(b *testing.B) {
			p := rawProducer(b, rawClient(b), newTopic(b))
			rawSend(b, p, 1)
			b.ResetTimer()
			start, cpu := time.Now(), bustest.ProcessCPU()
			rawSendAs(b, p, b.N, v.format)
			reportRate(b, start, cpu)
		})
	}
	// The default, and batches sent only when full or after the delay.
	for _, v := range []struct{ name, params string }{{"bus", ""}, {"bus/batchingEagerFlush=false", "batchingEagerFlush=false"}} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			bb := openBus(b, v.params)
			topic := newTopic(b)
			require.NoError(b, bb.Publish(ctx, topic, &bus.Message{Payload: benchPayload}))
			var next atomic.Int64
			errs := make(chan error, benchPublishers)
			b.ResetTimer()
			start, cpu := time.Now(), bustest.ProcessCPU()
			var wg sync.WaitGroup
			for range benchPublishers {
				wg.Go(func() {
					msgs := make([]*bus.Message, 0, benchChunk)
					for {
						from := int(next.Add(benchChunk)) - benchChunk
						if from >= b.N {
							return
						}
						msgs = msgs[:0]
						for i := from; i < min(from+benchChunk, b.N); i++ {
							msgs = append(msgs, &bus.Message{Key: strconv.Itoa(i % benchKeys), Payload: benchPayload})
						}
						if err := bb.Publish(ctx, topic, msgs...); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			reportRate(b, start, cpu)
			close(errs)
			require.NoError(b, <-errs)
		})
	}
}

// BenchmarkConsume drains a topic filled with messages in eventbus's wire
// format.
func BenchmarkConsume(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		client := rawClient(b)
		topic := newTopic(b)
		opts := apachepulsar.ConsumerOptions{
			Topic: "persistent://public/default/" + topic, SubscriptionName: "bench",
			Type: apachepulsar.KeyShared, SubscriptionInitialPosition: apachepulsar.SubscriptionPositionEarliest,
			EnableBatchIndexAcknowledgment: true,
		}
		// Create the subscription, then fill the topic, then time the drain.
		consumer, err := client.Subscribe(opts)
		require.NoError(b, err)
		consumer.Close()
		rawSendAs(b, rawProducer(b, client, topic), b.N, eventbusMapping)
		b.ResetTimer()
		start, cpu := time.Now(), bustest.ProcessCPU()
		consumer, err = client.Subscribe(opts)
		require.NoError(b, err)
		defer consumer.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for range b.N {
			m, err := consumer.Receive(ctx)
			require.NoError(b, err)
			require.NoError(b, consumer.Ack(m))
		}
		reportRate(b, start, cpu)
	})
	b.Run("bus", func(b *testing.B) {
		ctx := context.Background()
		bb := openBus(b, "")
		topic := newTopic(b)
		// Create the group, then fill the topic, then time the drain.
		sub, err := bb.Subscribe(ctx, topic, func(context.Context, *bus.Message) error { return nil }, bus.Group("bench"))
		require.NoError(b, err)
		closeSub(b, sub)
		rawSendAs(b, rawProducer(b, rawClient(b), topic), b.N, eventbusMapping)
		var handled atomic.Int64
		done := make(chan struct{})
		b.ResetTimer()
		start, cpu := time.Now(), bustest.ProcessCPU()
		sub, err = bb.Subscribe(ctx, topic, func(context.Context, *bus.Message) error {
			if handled.Add(1) == int64(b.N) {
				close(done)
			}
			return nil
		}, bus.Group("bench"))
		require.NoError(b, err)
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("handled %d of %d messages", handled.Load(), b.N)
		}
		reportRate(b, start, cpu)
		b.StopTimer()
		closeSub(b, sub)
	})
}

// latencyRate is the fixed publish rate of BenchmarkLatency, messages per
// second.
const latencyRate = 2000

// BenchmarkLatency publishes b.N single messages at latencyRate, each from
// a goroutine of its own (as requests of a web service do), to a group
// subscribed on the same bus, and reports percentiles of the time a
// Publish takes (until the broker confirmed the message) and of the time
// from its start until the handler runs. Variants: the default batching
// (eager flush), timer-only batching (batchingMaxPublishDelay, 10 ms) and
// no batching; beside them raw pulsar-client-go Send, which sends its
// batch at once, at the same rate.
//
//	go test -run '^$' -bench Latency -benchtime 10000x ./pulsar/
func BenchmarkLatency(b *testing.B) {
	for _, v := range []struct{ name, params string }{
		{"bus", ""},
		{"bus/batchingEagerFlush=false", "batchingEagerFlush=false"},
		{"bus/batching=false", "batching=false"},
	} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			bb := openBus(b, v.params)
			topic := newTopic(b)
			received := make([]time.Duration, b.N)
			var handled atomic.Int64
			done := make(chan struct{})
			sub, err := bb.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error {
				if len(m.Payload) != benchPayloadBytes {
					return nil // the warm-up message
				}
				i, sent := decodeStamp(m.Payload)
				received[i] = time.Since(sent)
				if handled.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			}, bus.Group("latency"))
			require.NoError(b, err)
			defer closeSub(b, sub)
			require.NoError(b, bb.Publish(ctx, topic, &bus.Message{Payload: []byte("warm-up")}))
			published := atRate(b, func(i int) error {
				return bb.Publish(ctx, topic, &bus.Message{Key: strconv.Itoa(i % benchKeys), Payload: stamp(i)})
			})
			select {
			case <-done:
			case <-time.After(time.Minute):
				b.Fatalf("handled %d of %d messages", handled.Load(), b.N)
			}
			reportPercentiles(b, "publish", published)
			reportPercentiles(b, "e2e", received)
		})
	}
	b.Run("raw-Send", func(b *testing.B) {
		p := rawProducer(b, rawClient(b), newTopic(b))
		rawSend(b, p, 1)
		published := atRate(b, func(i int) error {
			_, err := p.Send(context.Background(), &apachepulsar.ProducerMessage{Key: strconv.Itoa(i % benchKeys), Payload: benchPayload})
			return err
		})
		reportPercentiles(b, "publish", published)
	})
}

// atRate calls publish(i) for i < b.N at latencyRate, each call in a
// goroutine of its own, and returns how long each took.
func atRate(b *testing.B, publish func(i int) error) []time.Duration {
	took := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / latencyRate)))
		wg.Go(func() {
			began := time.Now()
			if publish(i) != nil {
				failed.Add(1)
			}
			took[i] = time.Since(began)
		})
	}
	wg.Wait()
	require.Zero(b, failed.Load())
	return took
}

// stamp is a benchmark payload carrying its index and the time it was made.
func stamp(i int) []byte {
	p := make([]byte, benchPayloadBytes)
	binary.BigEndian.PutUint64(p, uint64(i))
	binary.BigEndian.PutUint64(p[8:], uint64(time.Now().UnixNano()))
	return p
}

func decodeStamp(p []byte) (int, time.Time) {
	return int(binary.BigEndian.Uint64(p)), time.Unix(0, int64(binary.BigEndian.Uint64(p[8:])))
}

// reportPercentiles reports p50, p99 and max of ds in milliseconds.
func reportPercentiles(b *testing.B, what string, ds []time.Duration) {
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), what+"-p50-ms")
	b.ReportMetric(at(0.99), what+"-p99-ms")
	b.ReportMetric(float64(ds[len(ds)-1])/float64(time.Millisecond), what+"-max-ms")
	b.ReportMetric(0, "ns/op")
}
