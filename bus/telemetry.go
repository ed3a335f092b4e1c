package bus

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// instrumentationName is the OpenTelemetry instrumentation scope of the
// spans and metrics package bus produces.
const instrumentationName = "github.com/eventbus-go/eventbus/bus"

// Operation names, the first word of span names and the value of
// messaging.operation.name.
const (
	operationSend    = "send"
	operationCreate  = "create"
	operationProcess = "process"
)

// Attributes of eventbus's own that the conventions have no name for.
const (
	// AttributeAttempt is the handler run a process span stands for: 1
	// for the first, counting up across retries and redeliveries.
	AttributeAttempt = attribute.Key("eventbus.message.attempt")
	// AttributeDeadLetter is true on the send span of a dead letter.
	AttributeDeadLetter = attribute.Key("eventbus.dead_letter")
)

// TracerProvider makes the bus trace with tp instead of the global
// provider (otel.GetTracerProvider).
func TracerProvider(tp trace.TracerProvider) OpenOption {
	return func(o *openOptions) error {
		if tp == nil {
			return errors.New("TracerProvider: the provider is nil")
		}
		o.tracerProvider = tp
		return nil
	}
}

// MeterProvider makes the bus record metrics with mp instead of the
// global provider (otel.GetMeterProvider).
func MeterProvider(mp metric.MeterProvider) OpenOption {
	return func(o *openOptions) error {
		if mp == nil {
			return errors.New("MeterProvider: the provider is nil")
		}
		o.meterProvider = mp
		return nil
	}
}

// Propagator sets how trace context travels in message headers instead
// of the global propagator (otel.GetTextMapPropagator); use
// propagation.TraceContext{} for W3C traceparent and tracestate headers.
func Propagator(p propagation.TextMapPropagator) OpenOption {
	return func(o *openOptions) error {
		if p == nil {
			return errors.New("Propagator: the propagator is nil")
		}
		o.propagator = p
		return nil
	}
}

// unsetGlobalTracerProvider is what otel.GetTracerProvider returns until a
// program sets one: while it still does, and no provider was given to
// Open, tracing is off and costs nothing.
var unsetGlobalTracerProvider = otel.GetTracerProvider()

// telemetry is a bus's tracer, propagator and instruments, made once in
// Open. A nil *telemetry records nothing.
type telemetry struct {
	tracer       trace.Tracer
	globalTracer bool // tracer comes from the global provider
	noopTracer   bool // an explicit no-op provider
	propagator   propagation.TextMapPropagator
	meter        metric.Meter
	logger       *slog.Logger

	system string
	// common holds messaging.system, server.address and server.port.
	common []attribute.KeyValue

	operationDuration metric.Float64Histogram
	processDuration   metric.Float64Histogram
	sent              metric.Int64Counter
	consumed          metric.Int64Counter
	retries           metric.Int64Counter
	deadLetters       metric.Int64Counter
	nacks             metric.Int64Counter
	inFlight          metric.Int64ObservableGauge
	lag               metric.Int64ObservableGauge
	lagAge            metric.Float64ObservableGauge

	topics sync.Map // topic name → *topicTelemetry
}

func newTelemetry(o openOptions, caps driver.Capabilities, logger *slog.Logger) *telemetry {
	t := &telemetry{logger: logger, system: caps.System, propagator: o.propagator}
	tp := o.tracerProvider
	if tp == nil {
		tp, t.globalTracer = otel.GetTracerProvider(), true
	}
	_, t.noopTracer = tp.(tracenoop.TracerProvider)
	t.tracer = tp.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL))
	if t.propagator == nil {
		t.propagator = otel.GetTextMapPropagator()
	}
	mp := o.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t.meter = mp.Meter(instrumentationName, metric.WithSchemaURL(semconv.SchemaURL))

	if t.system == "" {
		t.system = "unknown"
	}
	t.common = []attribute.KeyValue{semconv.MessagingSystemKey.String(t.system)}
	if caps.ServerAddress != "" {
		t.common = append(t.common, semconv.ServerAddress(caps.ServerAddress))
		if caps.ServerPort > 0 {
			t.common = append(t.common, semconv.ServerPort(caps.ServerPort))
		}
	}
	t.makeInstruments()
	return t
}

// tracing reports whether spans may be recorded: false while the bus uses
// the global provider and the program has set none, or a no-op provider.
func (t *telemetry) tracing() bool {
	if t.globalTracer {
		return otel.GetTracerProvider() != unsetGlobalTracerProvider
	}
	return !t.noopTracer
}

// topicTelemetry is what the send side needs per topic, made once.
type topicTelemetry struct {
	sendName, createName string
	attrs                []attribute.KeyValue
	sendOne              []trace.SpanStartOption // the send span of one message: it is the creation context
	sendBatch            []trace.SpanStartOption // the send span of a batch: create spans are
	create               []trace.SpanStartOption
	sentOpts             []metric.AddOption
	durationOpts         []metric.RecordOption
}

func (t *telemetry) topic(name string) *topicTelemetry {
	if tt, ok := t.topics.Load(name); ok {
		return tt.(*topicTelemetry)
	}
	attrs := append(t.attributes(name), semconv.MessagingOperationName(operationSend), semconv.MessagingOperationTypeSend)
	createAttrs := append(t.attributes(name), semconv.MessagingOperationName(operationCreate), semconv.MessagingOperationTypeCreate)
	set := attribute.NewSet(attrs...)
	tt := &topicTelemetry{
		sendName:     operationSend + " " + name,
		createName:   operationCreate + " " + name,
		attrs:        attrs,
		sendOne:      []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...)},
		sendBatch:    []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)},
		create:       []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(createAttrs...)},
		sentOpts:     []metric.AddOption{metric.WithAttributeSet(set)},
		durationOpts: []metric.RecordOption{metric.WithAttributeSet(set)},
	}
	actual, _ := t.topics.LoadOrStore(name, tt)
	return actual.(*topicTelemetry)
}

// attributes are the common attributes and the destination, in a new slice.
func (t *telemetry) attributes(destination string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, len(t.common)+6)
	attrs = append(attrs, t.common...)
	return append(attrs, semconv.MessagingDestinationName(destination))
}

// messageAttributes are the per-message attributes of a span: id, and
// key, partition and offset where the backend has them (a message being
// sent has no partition or offset yet).
func (t *telemetry) messageAttributes(m *Message, delivered bool) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	if delivered && m.receipt.Partition >= 0 {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(strconv.Itoa(int(m.receipt.Partition))))
	}
	if t.system == "kafka" {
		if m.Key != "" {
			attrs = append(attrs, semconv.MessagingKafkaMessageKey(m.Key))
		}
		if delivered && m.receipt.Offset >= 0 {
			attrs = append(attrs, semconv.MessagingKafkaOffset(int(m.receipt.Offset)))
		}
	}
	return attrs
}

// errorType is the low-cardinality error.type of err: the type of the
// cause of a Permanent error, not of its wrapper.
func errorType(err error) attribute.KeyValue {
	var permanent *permanentError
	if errors.As(err, &permanent) {
		err = permanent.err
	}
	return semconv.ErrorType(err)
}

// withError returns the options of set plus error.type.
func withError(attrs []attribute.KeyValue, err error) attribute.Set {
	all := make([]attribute.KeyValue, 0, len(attrs)+1)
	all = append(all, attrs...)
	return attribute.NewSet(append(all, errorType(err))...)
}

// inject writes ctx's span context into a copy of header through the
// propagator and returns the copy; header itself may belong to the caller.
func (t *telemetry) inject(ctx context.Context, header map[string]string) map[string]string {
	h := make(map[string]string, len(header)+2)
	for k, v := range header {
		h[k] = v
	}
	t.propagator.Inject(ctx, propagation.MapCarrier(h))
	return h
}

// creationContext is the trace context a message carries in its headers,
// if any.
func (t *telemetry) creationContext(header map[string]string) trace.SpanContext {
	if len(header) == 0 {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(t.propagator.Extract(context.Background(), propagation.MapCarrier(header)))
}
