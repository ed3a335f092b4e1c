package kafka_test

import (
	"context"
	"fmt"
	"math"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// benchRate is the publish rate of BenchmarkPublishLatency, in msg/s.
const benchRate = 2000

// BenchmarkPublishLatency publishes b.N single messages at a fixed 2,000
// msg/s, each awaited in a goroutine of its own, while a consumer in the
// same process reads the topic, as a service does; bus and raw
// confluent-kafka-go side by side for each linger. It reports the publish
// latency's p50 and p99 and the Go scheduler latency's p99.9 over the run
// (runtime/metrics /sched/latencies:seconds): how long a runnable goroutine
// waited for a P, which blocking cgo calls lengthen.
//
//	go test -run '^$' -bench PublishLatency -benchtime 10000x ./kafka/
//
// Real broker only: the mock cluster answers in steps of its own.
func BenchmarkPublishLatency(b *testing.B) {
	be := realBackend(b)
	topic := be.topic(b, 6)
	var groups int
	// What the machine alone costs: the same goroutines at the same
	// rate, each waiting a local round trip's worth in Go.
	b.Run("baseline/no-kafka", func(b *testing.B) {
		benchAtRate(b, func(context.Context, *bus.Message) error {
			time.Sleep(300 * time.Microsecond)
			return nil
		})
	})
	for _, linger := range benchLingers {
		name, params, rawLinger := lingerCase(linger)
		b.Run(name+"/bus", func(b *testing.B) {
			eb := be.open(b, params...)
			ctx := context.Background()
			first := make(chan struct{})
			var once sync.Once
			groups++
			sub, err := eb.Subscribe(ctx, topic, func(context.Context, *bus.Message) error {
				once.Do(func() { close(first) })
				return nil
			}, bus.Group(fmt.Sprint("bench-latency-bus-", time.Now().UnixNano(), groups)))
			require.NoError(b, err)
			defer func() { require.NoError(b, sub.Close(ctx)) }()
			require.NoError(b, eb.Publish(ctx, topic, &bus.Message{Payload: benchPayload}))
			<-first
			benchAtRate(b, func(ctx context.Context, m *bus.Message) error { return eb.Publish(ctx, topic, m) })
		})
		b.Run(name+"/raw", func(b *testing.B) {
			p := rawProducer(b, be.url[len("kafka://"):], topic, rawLinger)
			first := make(chan struct{})
			var once sync.Once
			groups++
			stop := rawConsume(b, be.url[len("kafka://"):], topic, fmt.Sprint("bench-latency-raw-", time.Now().UnixNano(), groups), -1,
				func() { once.Do(func() { close(first) }) }, func() {})
			defer stop()
			<-first
			benchAtRate(b, func(ctx context.Context, m *bus.Message) error { return rawPublish(p, topic, []*bus.Message{m}) })
		})
	}
}

// benchAtRate calls publish b.N times at benchRate, each call in a
// goroutine of its own so that a slow call delays no other, and reports
// the calls' latency percentiles and the scheduler latency's p99.9.
func benchAtRate(b *testing.B, publish func(context.Context, *bus.Message) error) {
	ctx := context.Background()
	latencies := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	before := schedLatencies()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / benchRate)))
		wg.Go(func() {
			began := time.Now()
			if err := publish(ctx, &bus.Message{Key: fmt.Sprint("key-", i%100), Payload: benchPayload}); err != nil {
				b.Error(err)
			}
			latencies[i] = time.Since(began)
		})
	}
	wg.Wait()
	b.StopTimer()
	sched := histogramDelta(before, schedLatencies())
	slices.Sort(latencies)
	at := func(q float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(q*float64(len(latencies))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(quantile(sched, 0.999)*1000, "sched-p99.9-ms")
}

// schedLatencies reads the runtime's histogram of how long goroutines
// waited to run.
func schedLatencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// histogramDelta is what after counted since before.
func histogramDelta(before, after *metrics.Float64Histogram) *metrics.Float64Histogram {
	d := &metrics.Float64Histogram{Buckets: after.Buckets, Counts: slices.Clone(after.Counts)}
	for i := range d.Counts {
		d.Counts[i] -= before.Counts[i]
	}
	return d
}

// quantile is the upper bound of the bucket that holds the q quantile of
// h (its lower bound for the last, unbounded bucket).
func quantile(h *metrics.Float64Histogram, q float64) float64 {
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.Counts {
		if seen += c; seen >= want && c > 0 {
			if math.IsInf(h.Buckets[i+1], 1) {
				return h.Buckets[i]
			}
			return h.Buckets[i+1]
		}
	}
	return 0
}
