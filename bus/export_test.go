package bus

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// TelemetrySetup is one way of configuring telemetry that the benchmarks
// compare.
type TelemetrySetup struct {
	Name    string
	Options func(b *testing.B) []OpenOption
}

// TelemetrySetups are "off", no telemetry code path at all, as before
// telemetry existed (the baseline); "default", nothing configured (the
// global providers, unset); "noop", explicit no-op providers; and "sdk",
// the OpenTelemetry SDK sampling and recording every span (a batch span
// processor with an exporter that drops them) and every metric (a manual
// reader), with W3C propagation.
var TelemetrySetups = []TelemetrySetup{
	{"off", func(*testing.B) []OpenOption {
		return []OpenOption{func(o *openOptions) error { o.noTelemetry = true; return nil }}
	}},
	{"default", func(*testing.B) []OpenOption { return nil }},
	{"noop", func(*testing.B) []OpenOption {
		return []OpenOption{TracerProvider(tracenoop.NewTracerProvider()), MeterProvider(metricnoop.NewMeterProvider())}
	}},
	{"sdk", func(b *testing.B) []OpenOption {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		})
		return []OpenOption{TracerProvider(tp), MeterProvider(mp), Propagator(propagation.TraceContext{})}
	}},
}
