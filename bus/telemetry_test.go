package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
)

// TestTraceContextTravelsWithoutTracing: with no tracer recording (but
// metrics recorded), a trace the publisher is part of still reaches the
// handler, and from there the messages it publishes.
func TestTraceContextTravelsWithoutTracing(t *testing.T) {
	b := memBus(t, newBroker(t, memory.Options{}), bus.TracerProvider(tracenoop.NewTracerProvider()),
		bus.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
		bus.Propagator(propagation.TraceContext{}))
	t.Cleanup(func() { require.NoError(t, b.Close(context.Background())) })

	type delivery struct {
		header map[string]string
		span   trace.SpanContext
	}
	got := make(chan delivery, 2)
	_, err := b.Subscribe(t.Context(), "second", func(ctx context.Context, m *bus.Message) error {
		got <- delivery{m.Header, trace.SpanContextFromContext(ctx)}
		return nil
	}, bus.Group("g"))
	require.NoError(t, err)
	_, err = b.Subscribe(t.Context(), "first", func(ctx context.Context, m *bus.Message) error {
		got <- delivery{m.Header, trace.SpanContextFromContext(ctx)}
		return b.Publish(ctx, "second", &bus.Message{Payload: []byte("next")})
	}, bus.Group("g"))
	require.NoError(t, err)

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	caller := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled, Remote: true})
	msg := &bus.Message{Payload: []byte("first")}
	require.NoError(t, b.Publish(trace.ContextWithRemoteSpanContext(t.Context(), caller), "first", msg))
	assert.Empty(t, msg.Header, "the caller's message is not changed")

	for _, hop := range []string{"first", "second"} {
		select {
		case d := <-got:
			assert.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", d.header["traceparent"], hop)
			assert.Equal(t, traceID, d.span.TraceID(), "the handler's ctx is in the trace on %s", hop)
		case <-time.After(time.Minute):
			require.FailNow(t, "timed out waiting for "+hop)
		}
	}
}

// TestProcessWithoutCreationContextIsARoot: a message that carries no
// trace context is processed in a trace of its own, even when the
// Subscribe ctx carries a span.
func TestProcessWithoutCreationContextIsARoot(t *testing.T) {
	broker := newBroker(t, memory.Options{})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	consumer := memBus(t, broker, bus.TracerProvider(tp), bus.Propagator(propagation.TraceContext{}))
	producer := memBus(t, broker, bus.TracerProvider(tracenoop.NewTracerProvider()))
	t.Cleanup(func() {
		require.NoError(t, consumer.Close(context.Background()))
		require.NoError(t, producer.Close(context.Background()))
	})

	startup, span := tp.Tracer("test").Start(t.Context(), "startup")
	defer span.End()
	handled := make(chan struct{})
	sub, err := consumer.Subscribe(startup, "plain", func(context.Context, *bus.Message) error {
		close(handled)
		return nil
	}, bus.Group("g"))
	require.NoError(t, err)
	require.NoError(t, producer.Publish(t.Context(), "plain", &bus.Message{Payload: []byte("no trace context")}))
	select {
	case <-handled:
	case <-time.After(time.Minute):
		require.FailNow(t, "timed out waiting for the handler")
	}
	require.NoError(t, sub.Close(t.Context())) // the process span has ended by then

	var process sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "process plain" {
			process = s
		}
	}
	require.NotNil(t, process)
	assert.False(t, process.Parent().IsValid(), "no parent")
	assert.NotEqual(t, span.SpanContext().TraceID(), process.SpanContext().TraceID())
	assert.Empty(t, process.Links())
}
