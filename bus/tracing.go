package bus

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// sendOp is one Publish (or dead-letter publish) in progress: its span and
// when it began, for the duration metric.
type sendOp struct {
	t     *telemetry
	tt    *topicTelemetry
	span  trace.Span
	start time.Time
	n     int
	// deadLetterOpts, set on a dead letter's send, count it once sent.
	deadLetterOpts []metric.AddOption
}

// startSend starts the send span of a Publish of msgs and gives every
// message its creation context: the send span's for a single message, a
// create span's each for a batch, or the one it already carries, which is
// left alone and linked. It writes the context into the headers of out,
// the driver's copies of msgs.
func (t *telemetry) startSend(ctx context.Context, topic string, msgs []*Message, out []driver.Message) sendOp {
	if t == nil {
		return sendOp{}
	}
	op := sendOp{t: t, n: len(msgs)}
	tracing := t.tracing()
	if tracing || t.sent.Enabled(ctx) || t.operationDuration.Enabled(ctx) {
		op.tt = t.topic(topic)
		op.start = time.Now()
	}
	if !tracing {
		// No span of ours, but a trace the caller is part of still
		// travels on.
		if trace.SpanContextFromContext(ctx).IsValid() {
			for i := range out {
				if !t.creationContext(out[i].Header).IsValid() {
					out[i].Header = t.inject(ctx, out[i].Header)
				}
			}
		}
		return op
	}
	if len(msgs) == 1 {
		var spanCtx context.Context
		spanCtx, op.span = t.tracer.Start(ctx, op.tt.sendName, op.tt.sendOne...)
		if op.span.IsRecording() {
			op.span.SetAttributes(t.messageAttributes(msgs[0], false)...)
		}
		if custom := t.creationContext(out[0].Header); custom.IsValid() {
			op.span.AddLink(trace.Link{SpanContext: custom})
		} else {
			out[0].Header = t.inject(spanCtx, out[0].Header)
		}
		return op
	}
	links := make([]trace.Link, len(msgs))
	for i, m := range msgs {
		links[i].SpanContext = t.creationContext(out[i].Header)
		if links[i].SpanContext.IsValid() {
			continue
		}
		createCtx, create := t.tracer.Start(ctx, op.tt.createName, op.tt.create...)
		if create.IsRecording() {
			create.SetAttributes(t.messageAttributes(m, false)...)
		}
		out[i].Header = t.inject(createCtx, out[i].Header)
		links[i].SpanContext = create.SpanContext()
		create.End()
	}
	_, op.span = t.tracer.Start(ctx, op.tt.sendName, append(op.tt.sendBatch[:len(op.tt.sendBatch):len(op.tt.sendBatch)],
		trace.WithLinks(links...), trace.WithAttributes(semconv.MessagingBatchMessageCount(len(msgs))))...)
	return op
}

// end records the outcome of the send: err is the driver's.
func (op sendOp) end(err error) {
	if op.tt == nil {
		return
	}
	t := op.t
	failed := op.n
	var perMessage driver.MessageErrors
	switch {
	case err == nil:
		failed = 0
	case errors.As(err, &perMessage):
		failed = 0
		for _, e := range perMessage {
			if e != nil {
				failed++
			}
		}
	}
	// Metrics first, span last: whoever saw the span end sees them.
	defer op.endSpan(err)
	ctx := context.Background()
	if err == nil && op.deadLetterOpts != nil {
		t.deadLetters.Add(ctx, 1, op.deadLetterOpts...)
	}
	if ok := op.n - failed; ok > 0 {
		t.sent.Add(ctx, int64(ok), op.tt.sentOpts...)
	}
	if err == nil {
		t.operationDuration.Record(ctx, time.Since(op.start).Seconds(), op.tt.durationOpts...)
		return
	}
	set := withError(op.tt.attrs, err)
	if failed > 0 {
		t.sent.Add(ctx, int64(failed), metric.WithAttributeSet(set))
	}
	t.operationDuration.Record(ctx, time.Since(op.start).Seconds(), metric.WithAttributeSet(set))
}

func (op sendOp) endSpan(err error) {
	if op.span == nil {
		return
	}
	if err != nil {
		op.span.SetAttributes(errorType(err))
		op.span.SetStatus(codes.Error, err.Error())
	}
	op.span.End()
}

// processOp is one handler run in progress.
type processOp struct {
	st    *subscriptionTelemetry
	span  trace.Span
	start time.Time
}

// startProcess starts the process span of a handler run of m, a child of
// the creation context m carries and linked to it, and returns the
// handler's ctx, which carries the span so that what the handler
// publishes continues the trace.
func (st *subscriptionTelemetry) startProcess(ctx context.Context, m *Message) (context.Context, processOp) {
	if st == nil {
		return ctx, processOp{}
	}
	t := st.bus
	op := processOp{st: st}
	var creation trace.SpanContext // the one the message carries
	if len(m.Header) > 0 {
		before := trace.SpanContextFromContext(ctx)
		ctx = t.propagator.Extract(ctx, propagation.MapCarrier(m.Header))
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.Equal(before) {
			creation = sc
		}
	}
	if t.processDuration.Enabled(ctx) {
		op.start = time.Now()
	}
	if !t.tracing() {
		return ctx, op
	}
	if !creation.IsValid() {
		// A message without a creation context starts a trace of its
		// own, not a child of whatever span the Subscribe ctx carried.
		ctx, op.span = t.tracer.Start(ctx, st.processName, st.processRoot...)
	} else {
		ctx, op.span = t.tracer.Start(ctx, st.processName, st.processStart...)
	}
	if op.span.IsRecording() {
		op.span.SetAttributes(append(t.messageAttributes(m, true), AttributeAttempt.Int(m.Attempt))...)
		if creation.IsValid() {
			op.span.AddLink(trace.Link{SpanContext: creation})
		}
	}
	return ctx, op
}

// end records the handler run's outcome.
func (op processOp) end(err error) {
	if op.st == nil {
		return
	}
	// Metrics first, span last: whoever saw the span end sees them.
	switch {
	case op.start.IsZero():
	case err == nil:
		op.st.bus.processDuration.Record(context.Background(), time.Since(op.start).Seconds(), op.st.processOpts...)
	default:
		op.st.bus.processDuration.Record(context.Background(), time.Since(op.start).Seconds(),
			metric.WithAttributeSet(withError(op.st.processAttrs, err)))
	}
	if op.span != nil {
		if err != nil {
			op.span.SetAttributes(errorType(err))
			op.span.SetStatus(codes.Error, err.Error())
		}
		op.span.End()
	}
}

// startDeadLetter starts the send span of the dead letter of m to topic:
// a child of m's creation context, linked to it, and the dead letter's own
// creation context, written into header (the dead letter's, owned by bus).
func (st *subscriptionTelemetry) startDeadLetter(m *Message, topic string, header map[string]string) sendOp {
	if st == nil {
		return sendOp{}
	}
	t := st.bus
	op := sendOp{t: t, tt: t.topic(topic), n: 1, start: time.Now(), deadLetterOpts: st.counterOpts}
	if !t.tracing() {
		return op
	}
	creation := t.creationContext(m.Header)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), creation)
	ctx, op.span = t.tracer.Start(ctx, op.tt.sendName, op.tt.sendOne...)
	if op.span.IsRecording() {
		op.span.SetAttributes(append(t.messageAttributes(m, false), AttributeDeadLetter.Bool(true))...)
		if creation.IsValid() {
			op.span.AddLink(trace.Link{SpanContext: creation, Attributes: []attribute.KeyValue{semconv.MessagingMessageID(m.ID)}})
		}
	}
	for _, field := range t.propagator.Fields() {
		delete(header, field)
	}
	t.propagator.Inject(ctx, propagation.MapCarrier(header))
	return op
}
