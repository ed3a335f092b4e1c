package memory_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
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
		b.Run(bc.name, func(b *testing.B) {
			bustest.EndToEnd(b, memBus(b, newBroker(b, memory.Options{})), bc.batch, bc.reused)
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
		cpu := bustest.ProcessCPU()
		for range b.N {
			ch <- &bus.Message{Payload: payload}
		}
		close(ch)
		<-done
		b.StopTimer()
		bustest.ReportRate(b, cpu)
	})
}
