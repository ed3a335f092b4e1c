package kafka_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// The benchmarks run our bus and the raw confluent-kafka-go client side by
// side against the same cluster: the mock always, a real broker when
// EVENTBUS_TEST_KAFKA is set. Each reports msgs/s; docs/bench-kafka.md
// has the numbers and ratios.

const benchPayloadBytes = 256

var benchParams []string

var benchPayload = []byte(strings.Repeat("x", benchPayloadBytes))

type benchCluster struct {
	name    string
	backend backend
	servers string
	// consume is how many messages a consume iteration reads; the mock
	// keeps at most about 5 MiB per partition.
	consume int
}

func benchClusters(b *testing.B) []benchCluster {
	mock, mc := mockBackend(b)
	clusters := []benchCluster{{name: "mock", backend: mock, servers: mc.BootstrapServers(), consume: 30000}}
	if addr := envKafka(); addr != "" {
		clusters = append(clusters, benchCluster{name: "real", backend: realBackend(b), servers: addr, consume: 200000})
	}
	return clusters
}

// benchLingers are the linger settings the publish benchmarks compare:
// the default ("", none) and explicit ones, each for the bus and the raw
// client.
var benchLingers = []string{"", "1ms", "5ms"}

func BenchmarkPublish(b *testing.B) {
	for _, c := range benchClusters(b) {
		topic := c.backend.topic(b, 6)
		for _, linger := range benchLingers {
			name, params, rawLinger := lingerCase(linger)
			b.Run(c.name+"/batch1000/"+name+"/bus", func(b *testing.B) {
				eb := c.backend.open(b, params...)
				require.NoError(b, eb.Publish(context.Background(), topic, &bus.Message{Payload: benchPayload}))
				benchBatches(b, func(ctx context.Context, msgs []*bus.Message) error { return eb.Publish(ctx, topic, msgs...) })
			})
			b.Run(c.name+"/batch1000/"+name+"/raw", func(b *testing.B) {
				p := rawProducer(b, c.servers, topic, rawLinger)
				benchBatches(b, func(ctx context.Context, msgs []*bus.Message) error { return rawPublish(p, topic, msgs) })
			})
			b.Run(c.name+"/batch1000/"+name+"/raw-ce-headers", func(b *testing.B) {
				p := rawProducer(b, c.servers, topic, rawLinger)
				benchBatches(b, func(ctx context.Context, msgs []*bus.Message) error { return rawPublishCE(p, topic, msgs) })
			})
			b.Run(c.name+"/concurrent64x1/"+name+"/bus", func(b *testing.B) {
				eb := c.backend.open(b, params...)
				require.NoError(b, eb.Publish(context.Background(), topic, &bus.Message{Payload: benchPayload}))
				benchConcurrent(b, func(ctx context.Context, m *bus.Message) error { return eb.Publish(ctx, topic, m) })
			})
			b.Run(c.name+"/concurrent64x1/"+name+"/raw", func(b *testing.B) {
				p := rawProducer(b, c.servers, topic, rawLinger)
				benchConcurrent(b, func(ctx context.Context, m *bus.Message) error { return rawPublish(p, topic, []*bus.Message{m}) })
			})
			b.Run(c.name+"/concurrent64x1/"+name+"/raw-ce-headers", func(b *testing.B) {
				p := rawProducer(b, c.servers, topic, rawLinger)
				benchConcurrent(b, func(ctx context.Context, m *bus.Message) error { return rawPublishCE(p, topic, []*bus.Message{m}) })
			})
		}
	}
}

// lingerCase names a benchLingers entry and gives the bus's URL parameters
// and the raw producer's linger.ms for it.
func lingerCase(linger string) (name string, params []string, rawLinger string) {
	if linger == "" {
		return "linger=default", nil, defaultLingerMs
	}
	d, err := time.ParseDuration(linger)
	if err != nil {
		panic(err)
	}
	return "linger=" + linger, []string{"linger=" + linger}, strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
}

// defaultLingerMs is the driver's default linger, for the raw producer.
const defaultLingerMs = "0"

func benchBatches(b *testing.B, publish func(context.Context, []*bus.Message) error) {
	const batch = 1000
	ctx := context.Background()
	msgs := make([]*bus.Message, batch)
	b.ResetTimer()
	cpu := startCPU()
	start := time.Now()
	sent := 0
	for sent < b.N {
		n := min(batch, b.N-sent)
		for i := range n {
			msgs[i] = &bus.Message{Key: fmt.Sprint("key-", (sent+i)%100), Payload: benchPayload}
		}
		if err := publish(ctx, msgs[:n]); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	reportRate(b, b.N, time.Since(start), cpu)
}

const benchPublishers = 64

func benchConcurrent(b *testing.B, publish func(context.Context, *bus.Message) error) {
	ctx := context.Background()
	var seq atomic.Int64
	// 64 goroutines in all, each one message per call: a web service's
	// request handlers.
	b.SetParallelism(max(1, benchPublishers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	cpu := startCPU()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := &bus.Message{Key: fmt.Sprint("key-", seq.Add(1)%100), Payload: benchPayload}
			if err := publish(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, b.N, time.Since(start), cpu)
}

// reportRate reports n messages in elapsed as msgs/s, and the process's CPU
// time (user and system, librdkafka's threads included) per message since
// cpu was started.
func reportRate(b *testing.B, n int, elapsed time.Duration, cpu func() time.Duration) {
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu())/float64(time.Microsecond)/float64(n), "cpu-µs/msg")
}

// startCPU starts counting the process's CPU time; the function it returns
// tells how much was used since.
func startCPU() func() time.Duration {
	began := processCPU()
	return func() time.Duration { return processCPU() - began }
}

func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		panic(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// rawProducer is a producer configured like the driver's by default
// (idempotent, acks=all, no compression, 4 MiB messages and batches,
// 2 minutes delivery timeout), with linger.ms lingerMs, that has published
// to topic once.
func rawProducer(b *testing.B, servers, topic, lingerMs string) *confluent.Producer {
	p, err := confluent.NewProducer(&confluent.ConfigMap{
		"bootstrap.servers": servers, "enable.idempotence": true, "acks": "all", "linger.ms": lingerMs,
		"compression.type": "none", "message.max.bytes": 4 << 20, "batch.size": 4 << 20,
		"message.timeout.ms": 120000,
	})
	require.NoError(b, err)
	go func() {
		for range p.Events() {
		}
	}()
	b.Cleanup(p.Close)
	require.NoError(b, rawPublish(p, topic, []*bus.Message{{Payload: benchPayload}}))
	return p
}

// rawPublish produces msgs and waits for their delivery reports, the raw
// client's equivalent of Publish.
func rawPublish(p *confluent.Producer, topic string, msgs []*bus.Message) error {
	return rawProduce(p, topic, msgs, nil)
}

// rawPublishCE is rawPublish with the five CloudEvents headers every
// eventbus record carries, to tell the wire format's cost from the
// driver's.
func rawPublishCE(p *confluent.Producer, topic string, msgs []*bus.Message) error {
	now := []byte(time.Now().Format(time.RFC3339Nano))
	return rawProduce(p, topic, msgs, func(i int) []confluent.Header {
		return []confluent.Header{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: fmt.Appendf(nil, "01a2006b-a1a2-76dd-92e8-%012d", i)},
			{Key: "ce_time", Value: now},
			{Key: "ce_type", Value: []byte("eventbus.message")},
			{Key: "ce_source", Value: []byte("eventbus")},
		}
	})
}

func rawProduce(p *confluent.Producer, topic string, msgs []*bus.Message, headers func(i int) []confluent.Header) error {
	reports := make(chan confluent.Event, len(msgs))
	for i, m := range msgs {
		km := &confluent.Message{
			TopicPartition: confluent.TopicPartition{Topic: &topic, Partition: confluent.PartitionAny},
			Key:            []byte(m.Key), Value: m.Payload,
		}
		if headers != nil {
			km.Headers = headers(i)
		}
		if err := p.Produce(km, reports); err != nil {
			return err
		}
	}
	for range msgs {
		if m := (<-reports).(*confluent.Message); m.TopicPartition.Error != nil {
			return m.TopicPartition.Error
		}
	}
	return nil
}

func BenchmarkConsume(b *testing.B) {
	for _, c := range benchClusters(b) {
		topic := c.backend.topic(b, 6)
		prefill(b, c.servers, topic, c.consume)
		var groups atomic.Int64
		for _, concurrency := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/bus/concurrency=%d", c.name, concurrency), func(b *testing.B) {
				benchBusConsume(b, c, topic, &groups, concurrency)
			})
		}
		b.Run(c.name+"/raw", func(b *testing.B) {
			benchConsume(b, c.consume, func(n int, first, done func()) func() {
				return rawConsume(b, c.servers, topic, fmt.Sprint("bench-raw-", time.Now().UnixNano(), groups.Add(1)), n, first, done)
			})
		})
	}
}

// benchBusConsume consumes the prefilled topic through Subscribe with a
// no-op handler.
func benchBusConsume(b *testing.B, c benchCluster, topic string, groups *atomic.Int64, concurrency int) {
	eb := c.backend.open(b, benchParams...)
	benchConsume(b, c.consume, func(n int, first, done func()) func() {
		var count atomic.Int64
		var once sync.Once
		sub, err := eb.Subscribe(context.Background(), topic, func(context.Context, *bus.Message) error {
			once.Do(first)
			if count.Add(1) == int64(n) {
				done()
			}
			return nil
		}, bus.Group(fmt.Sprint("bench-bus-", time.Now().UnixNano(), groups.Add(1))), bus.Concurrency(concurrency))
		require.NoError(b, err)
		return func() { require.NoError(b, sub.Close(context.Background())) }
	})
}

// benchConsume times, per iteration, a fresh group reading n messages,
// from its first message to its last.
func benchConsume(b *testing.B, n int, start func(n int, first, done func()) (stop func())) {
	var elapsed, cpu time.Duration
	for range b.N {
		var began time.Time
		var cpuBegan func() time.Duration
		finished := make(chan struct{})
		stop := start(n, func() { began, cpuBegan = time.Now(), startCPU() }, func() { close(finished) })
		select {
		case <-finished:
		case <-time.After(5 * time.Minute):
			b.Fatal("consume did not finish")
		}
		elapsed += time.Since(began)
		cpu += cpuBegan()
		stop()
	}
	reportRate(b, n*b.N, elapsed, func() time.Duration { return cpu })
}

// rawConsume is a raw Poll loop that stores each message's offset, as an
// at-least-once consumer written by hand does.
func rawConsume(b *testing.B, servers, topic, group string, n int, first, done func()) (stop func()) {
	// The driver's fetch settings, so that the two differ only in what
	// happens after the fetch.
	c, err := confluent.NewConsumer(&confluent.ConfigMap{
		"bootstrap.servers": servers, "group.id": group, "auto.offset.reset": "earliest",
		"enable.auto.offset.store": false, "partition.assignment.strategy": "cooperative-sticky",
		"fetch.queue.backoff.ms": 10, "fetch.wait.max.ms": 100,
		"max.partition.fetch.bytes": 4 << 20, "fetch.max.bytes": 52428800,
	})
	require.NoError(b, err)
	require.NoError(b, c.Subscribe(topic, nil))
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		count := 0
		for {
			select {
			case <-quit:
				return
			default:
			}
			m, ok := c.Poll(100).(*confluent.Message)
			if !ok {
				continue
			}
			if _, err := c.StoreMessage(m); err != nil {
				b.Error(err)
				return
			}
			if count++; count == 1 {
				first()
			}
			if count == n {
				done()
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
		require.NoError(b, c.Close())
	}
}

// prefill writes n messages in large batches (the mock fetches slowly
// from topics written in tiny ones).
func prefill(b *testing.B, servers, topic string, n int) {
	p, err := confluent.NewProducer(&confluent.ConfigMap{
		"bootstrap.servers": servers, "linger.ms": 50, "batch.num.messages": 10000,
	})
	require.NoError(b, err)
	defer p.Close()
	go func() {
		for range p.Events() {
		}
	}()
	msgs := make([]*bus.Message, 0, 1000)
	for i := range n {
		msgs = append(msgs, &bus.Message{Key: fmt.Sprint("key-", i%100), Payload: benchPayload, Header: map[string]string{"ce_id": fmt.Sprint(i)}})
		if len(msgs) == cap(msgs) || i == n-1 {
			require.NoError(b, rawPublish(p, topic, msgs))
			msgs = msgs[:0]
		}
	}
}
