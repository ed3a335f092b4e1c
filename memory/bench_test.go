package memory_test

import (
	"fmt"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/memory"
)

// BenchmarkEndToEnd measures publish → handle → ack through a Bus on
// mem:// with Concurrency(1), beside raw buffered Go channel hand-offs of
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
	// The bus hands a message on twice: from the publisher to the
	// subscription's receive loop, and from it to a worker. The same two
	// hand-offs over raw channels bound what any design of that shape
	// can do on this machine.
	for _, hops := range []int{1, 2} {
		name := "channel"
		if hops > 1 {
			name = fmt.Sprintf("channel/hops=%d", hops)
		}
		b.Run(name, func(b *testing.B) {
			first := make(chan *bus.Message, 256)
			in := first
			for range hops - 1 {
				out := make(chan *bus.Message, 256)
				go func(in <-chan *bus.Message) {
					for m := range in {
						out <- m
					}
					close(out)
				}(in)
				in = out
			}
			done := make(chan struct{})
			go func(in <-chan *bus.Message) {
				handled := 0
				for m := range in {
					if m != nil {
						handled++
					}
				}
				if handled == b.N {
					close(done)
				}
			}(in)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := bustest.ProcessCPU()
			for range b.N {
				first <- &bus.Message{Payload: payload}
			}
			close(first)
			<-done
			b.StopTimer()
			bustest.ReportRate(b, cpu)
		})
	}
}
