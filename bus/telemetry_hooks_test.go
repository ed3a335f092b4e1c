package bus

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// BenchmarkTelemetryHooks measures what telemetry adds to one message's
// trip through a bus, without the backend: the send of a one-message
// Publish, its receipt, its handler run and its settling; "off" is the
// loop alone. Beside BenchmarkTelemetry, whose end-to-end figures vary more
// than the hooks cost, it tells the overhead per message directly.
func BenchmarkTelemetryHooks(b *testing.B) {
	for _, setup := range TelemetrySetups {
		b.Run(setup.Name, func(b *testing.B) {
			o, err := makeOpenOptions(setup.Options(b))
			if err != nil {
				b.Fatal(err)
			}
			logger := slog.New(slog.DiscardHandler)
			var tel *telemetry
			if !o.noTelemetry {
				tel = newTelemetry(o, driver.Capabilities{System: "memory"}, logger)
			}
			sub := &Subscription{bus: &Bus{name: "mem://"}, topic: "bench", logger: logger,
				cfg: subscribeConfig{group: "bench", maxInFlight: 256}}
			st := tel.subscription(sub)
			defer st.stop()
			ctx := context.Background()
			payload := []byte("an event payload of about sixty-four bytes, like a small JSON...")
			msgs := []*Message{{ID: "id", Payload: payload, Time: time.Now()}}
			out := make([]driver.Message, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				out[0] = driver.Message{ID: "id", Payload: payload}
				send := tel.startSend(ctx, "bench", msgs, out)
				send.end(nil)
				m := &Message{ID: "id", Payload: payload, Header: out[0].Header, Time: msgs[0].Time, Attempt: 1,
					receipt: driver.Receipt{Partition: -1, Offset: -1}}
				st.received(m)
				handlerCtx, process := st.startProcess(ctx, m)
				_ = handlerCtx
				process.end(nil)
				st.settled(m, true)
			}
		})
	}
}
