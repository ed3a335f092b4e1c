package outbox_test

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	"github.com/eventbus-go/eventbus/internal/testdb"
	"github.com/eventbus-go/eventbus/outbox"
)

// The relay benchmarks run on each database (SQLite file, PostgreSQL) and
// bus (memory, Kafka), beside a direct Publish of the same messages to the
// same bus in the same run. Messages carry a 64-byte payload and one of 64
// keys.
//
//	throughput/outbox: b.N committed rows, then the time until the relay has
//	  published them all (commit to Publish return), in messages/s;
//	throughput/direct: bus.Publish of the same messages in calls of
//	  DefaultBatchSize, as the relay makes them;
//	latency/outbox: one message per transaction, the next committed once
//	  the previous was published: time from Commit's return to the relay's
//	  Publish returning, p50 and p99 (default settings: LISTEN/NOTIFY on
//	  PostgreSQL, a 25 ms poll on SQLite);
//	latency/direct: the time one bus.Publish of one message takes.
func BenchmarkRelay(b *testing.B) {
	buses := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"memory", func(*testing.B) string { return "mem://" }},
		{"kafka", func(b *testing.B) string {
			return "kafka://" + testbroker.Kafka(b) + "?create_topics=true&partitions=3"
		}},
	}
	for _, kind := range testdb.Kinds {
		for _, backend := range buses {
			b.Run(kind+"/"+backend.name, func(b *testing.B) {
				url := backend.url(b)
				db := testdb.Open(b, kind, outbox.SQLiteDSN)
				if err := outbox.Migrate(b.Context(), db.DB); err != nil {
					b.Fatal(err)
				}
				bu, err := bus.Open(b.Context(), url)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { bu.Close(context.Background()) })
				b.Run("throughput/outbox", func(b *testing.B) { benchRelayThroughput(b, db.DB, bu) })
				b.Run("throughput/direct", func(b *testing.B) { benchDirectThroughput(b, bu) })
				b.Run("latency/outbox", func(b *testing.B) { benchRelayLatency(b, db.DB, bu) })
				b.Run("latency/direct", func(b *testing.B) { benchDirectLatency(b, bu) })
			})
		}
	}
}

var benchPayload = make([]byte, 64)

func benchMessage(i int) *bus.Message {
	return &bus.Message{Key: "key-" + strconv.Itoa(i%64), Payload: benchPayload}
}

func benchTopic(b *testing.B) string {
	return "outbox-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// benchRelay runs a relay until the benchmark ends.
func benchRelay(b *testing.B, db *sql.DB, bu *bus.Bus, onPublished func(context.Context, string, []*bus.Message)) *outbox.Relay {
	r, err := outbox.NewRelay(db, bu, outbox.OnPublished(onPublished), outbox.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return r
}

func benchRelayThroughput(b *testing.B, db *sql.DB, bu *bus.Bus) {
	topic := benchTopic(b)
	for batch := range slices.Chunk(make([]struct{}, b.N), 1000) {
		msgs := make([]*bus.Message, len(batch))
		for i := range msgs {
			msgs[i] = benchMessage(i)
		}
		err := testdb.InTx(b.Context(), db, func(tx *sql.Tx) error { return outbox.Publish(b.Context(), tx, topic, msgs...) })
		if err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	published := 0
	all := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	benchRelay(b, db, bu, func(_ context.Context, _ string, msgs []*bus.Message) {
		mu.Lock()
		defer mu.Unlock()
		published += len(msgs)
		if published == b.N {
			close(all)
		}
	})
	<-all
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func benchDirectThroughput(b *testing.B, bu *bus.Bus) {
	topic := benchTopic(b)
	b.ResetTimer()
	start := time.Now()
	for batch := range slices.Chunk(make([]struct{}, b.N), outbox.DefaultBatchSize) {
		msgs := make([]*bus.Message, len(batch))
		for i := range msgs {
			msgs[i] = benchMessage(i)
		}
		if err := bu.Publish(b.Context(), topic, msgs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func benchRelayLatency(b *testing.B, db *sql.DB, bu *bus.Bus) {
	topic := benchTopic(b)
	published := make(chan time.Time, 1)
	benchRelay(b, db, bu, func(context.Context, string, []*bus.Message) { published <- time.Now() })
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		var committed time.Time
		err := testdb.InTx(b.Context(), db, func(tx *sql.Tx) error { return outbox.Publish(b.Context(), tx, topic, benchMessage(i)) })
		committed = time.Now()
		if err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, (<-published).Sub(committed))
	}
	reportLatencies(b, latencies)
}

func benchDirectLatency(b *testing.B, bu *bus.Bus) {
	topic := benchTopic(b)
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := bu.Publish(b.Context(), topic, benchMessage(i)); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
	}
	reportLatencies(b, latencies)
}

func reportLatencies(b *testing.B, latencies []time.Duration) {
	slices.Sort(latencies)
	at := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
