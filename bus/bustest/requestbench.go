package bustest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/stretchr/testify/require"
)

// BenchmarkRequestReply measures request/reply round trips, one at a time,
// on the backend open connects to, in two sub-benchmarks side by side:
//
//   - "requester": bus.Requester.Request, answered with bus.Reply by a
//     group on another bus;
//   - "by-hand", the baseline: the same request and answer through plain
//     Publish and Subscribe, the answer matched by payload on a channel.
//
// Each reports the p50 and p99 round-trip latency in microseconds. topic
// returns a new topic name, created where the backend needs that.
func BenchmarkRequestReply(b *testing.B, open func(testing.TB) *bus.Bus, topic func(testing.TB) string) {
	payload := make([]byte, 256)
	b.Run("requester", func(b *testing.B) {
		requests := topic(b)
		responder := open(b)
		_, err := responder.Subscribe(b.Context(), requests, func(ctx context.Context, m *bus.Message) error {
			return bus.Reply(ctx, responder, m, &bus.Message{Payload: m.Payload})
		}, bus.Group(uniqueName("responders")))
		require.NoError(b, err)
		r, err := open(b).NewRequester(b.Context(), bus.ReplyTopic(topic(b)))
		require.NoError(b, err)
		measureRoundTrips(b, func(ctx context.Context, i int) error {
			_, err := r.Request(ctx, requests, &bus.Message{Key: fmt.Sprint(i % 16), Payload: payload})
			return err
		})
	})
	b.Run("by-hand", func(b *testing.B) {
		requests, answers := topic(b), topic(b)
		responder := open(b)
		_, err := responder.Subscribe(b.Context(), requests, func(ctx context.Context, m *bus.Message) error {
			return responder.Publish(ctx, answers, &bus.Message{Key: m.Key, Payload: m.Payload})
		}, bus.Group(uniqueName("responders")))
		require.NoError(b, err)
		requester := open(b)
		answered := make(chan string, 1)
		_, err = requester.Subscribe(b.Context(), answers, func(_ context.Context, m *bus.Message) error {
			select {
			case answered <- string(m.Payload):
			case <-b.Context().Done():
			}
			return nil
		})
		require.NoError(b, err)
		measureRoundTrips(b, func(ctx context.Context, i int) error {
			sent := fmt.Sprintf("%d-%0256d", i, 0)
			if err := requester.Publish(ctx, requests, &bus.Message{Key: fmt.Sprint(i % 16), Payload: []byte(sent)}); err != nil {
				return err
			}
			for {
				select {
				case got := <-answered:
					if got == sent {
						return nil
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
	})
}

// measureRoundTrips runs roundTrip b.N times after a few warm-up runs and
// reports the p50 and p99 latencies.
func measureRoundTrips(b *testing.B, roundTrip func(ctx context.Context, i int) error) {
	ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
	defer cancel()
	for i := range 10 {
		require.NoError(b, roundTrip(ctx, -1-i), "warm-up round trip")
	}
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		require.NoError(b, roundTrip(ctx, i))
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(latencies)
	percentile := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(percentile(0.50), "p50-µs")
	b.ReportMetric(percentile(0.99), "p99-µs")
}
