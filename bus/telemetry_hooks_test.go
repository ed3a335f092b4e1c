package bus

import (
	"context"
	"log/slog"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// BenchmarkTelemetryHooks measures what telemetry adds to one message's
// trip through a bus, without the backend: the send of a one-message
// Publish, its receipt, its handler run and its settling; "off" is the
// loop alone. Beside BenchmarkTelemetry, whose end-to-end figures vary more
// than the hooks cost, it tells the overhead per message directly.
func BenchmarkTelemetryHooks(b *testing.B) {
	for _, setup := range []struct {
		name string
		opts func(b *testing.B) openOptions
	}{
		{"off", func(*testing.B) openOptions { return openOptions{noTelemetry: true} }},
		{"default", func(*testing.B) openOptions { return openOptions{} }},
		{"noop", func(*testing.B) openOptions {
			return openOptions{tracerProvider: tracenoop.NewTracerProvider(), meterProvider: metricnoop.NewMeterProvider()}
		}},
		{"sdk", func(b *testing.B) openOptions {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
				sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() {
				_ = tp.Shutdown(context.Background())
				_ = mp.Shutdown(context.Background())
			})
			return openOptions{tracerProvider: tp, meterProvider: mp, propagator: propagation.TraceContext{}}
		}},
	} {
		b.Run(setup.name, func(b *testing.B) {
			o := setup.opts(b)
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
