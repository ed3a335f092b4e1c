package bus_test

import (
	"context"
	"fmt"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/memory"
)

// BenchmarkTelemetry measures publish → handle → ack on mem:// with
// Concurrency(1), as memory's BenchmarkEndToEnd does, under four telemetry
// setups in the same run: "off" has no telemetry code path at all (the
// baseline), "default" is nothing configured (the global providers, unset),
// "noop" is explicit no-op providers, and "sdk" is the OpenTelemetry SDK
// sampling and recording every span (a batch span processor with an
// exporter that drops them) and every metric (a manual reader). One op is
// one message.
func BenchmarkTelemetry(b *testing.B) {
	setups := []struct {
		name string
		opts func(b *testing.B) []bus.Option
	}{
		{"off", func(*testing.B) []bus.Option { return []bus.Option{bus.WithoutTelemetry()} }},
		{"default", func(*testing.B) []bus.Option { return nil }},
		{"noop", func(*testing.B) []bus.Option {
			return []bus.Option{bus.WithTracerProvider(tracenoop.NewTracerProvider()), bus.WithMeterProvider(metricnoop.NewMeterProvider())}
		}},
		{"sdk", func(b *testing.B) []bus.Option {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
				sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() {
				_ = tp.Shutdown(context.Background())
				_ = mp.Shutdown(context.Background())
			})
			return []bus.Option{bus.WithTracerProvider(tp), bus.WithMeterProvider(mp), bus.WithPropagator(propagation.TraceContext{})}
		}},
	}
	for _, batch := range []int{1, 100} {
		for _, setup := range setups {
			b.Run(fmt.Sprintf("%s/batch=%d", setup.name, batch), func(b *testing.B) {
				bustest.EndToEnd(b, memory.NewBroker(memory.Options{}).Open(setup.opts(b)...), batch, false)
			})
		}
	}
}
