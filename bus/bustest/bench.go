package bustest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
)

// EndToEnd benchmarks publish → handle → ack on eb: b.N messages with a
// 64-byte payload, in Publish calls of batch messages, to a group
// subscription with Concurrency(1) and a handler that returns nil. With
// reuse the publisher reuses its Message structs, as it may. One op is one
// message; it reports messages per second from the first publish until the
// last message was handled, and the process's CPU time per message, which
// other load on the machine does not inflate as much. eb is closed at the
// end.
func EndToEnd(b *testing.B, eb *bus.Bus, batch int, reuse bool) {
	payload := []byte("an event payload of about sixty-four bytes, like a small JSON...")
	ctx := context.Background()
	defer eb.Close(ctx)
	var handled atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	_, err := eb.Subscribe(ctx, "bench", func(context.Context, *bus.Message) error {
		if handled.Add(1) == target {
			close(done)
		}
		return nil
	}, bus.Group("bench"))
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*bus.Message, batch)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for sent := 0; sent < b.N; sent += batch {
		n := min(batch, b.N-sent)
		for i := range n {
			if reuse && msgs[i] != nil {
				*msgs[i] = bus.Message{Payload: payload}
			} else {
				msgs[i] = &bus.Message{Payload: payload}
			}
		}
		if err := eb.Publish(ctx, "bench", msgs[:n]...); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	ReportRate(b, cpu)
}

// ReportRate reports messages per second over the benchmark's time, and
// the CPU time per message the process used since cpuBefore (from
// ProcessCPU).
func ReportRate(b *testing.B, cpuBefore time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if cpuBefore > 0 {
		b.ReportMetric(float64(processCPU()-cpuBefore)/float64(b.N), "cpu-ns/msg")
	}
}

// ProcessCPU is the CPU time, user and system, the process has used so
// far; 0 where it is not measured.
func ProcessCPU() time.Duration { return processCPU() }
