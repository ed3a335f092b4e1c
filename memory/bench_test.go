package memory_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
)

// BenchmarkEndToEnd measures publish → handle → ack through a Bus on
// mem:// with Concurrency(1), beside a raw buffered Go channel hand-off of
// the same messages in the same run. One op is one message.
func BenchmarkEndToEnd(b *testing.B) {
	payload := []byte("an event payload of about sixty-four bytes, like a small JSON...")
	for _, bc := range []struct {
		name   string
		batch  int
		reused bool // the caller reuses its Message structs, as it may
	}{{"bus/batch=1", 1, false}, {"bus/batch=100", 100, false}, {"bus/batch=100/reused", 100, true}} {
		batch := bc.batch
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			eb := memory.NewBroker(memory.Options{}).Open()
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
			for sent := 0; sent < b.N; sent += batch {
				n := min(batch, b.N-sent)
				for i := range n {
					if bc.reused && msgs[i] != nil {
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
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	b.Run("channel", func(b *testing.B) {
		ch := make(chan *bus.Message, 256)
		done := make(chan struct{})
		go func() {
			handled := 0
			for m := range ch {
				if m != nil {
					handled++
				}
			}
			if handled == b.N {
				close(done)
			}
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			ch <- &bus.Message{Payload: payload}
		}
		close(ch)
		<-done
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
