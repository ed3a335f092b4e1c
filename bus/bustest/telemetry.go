package bustest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventbus-go/eventbus/bus"
)

// TelemetryHarness connects the telemetry suite to a backend.
type TelemetryHarness struct {
	// Open returns a new bus on the backend under test with opts applied;
	// the suite closes it.
	Open func(t *testing.T, opts ...bus.OpenOption) *bus.Bus
	// NewTopic returns a fresh topic name; nil means a random name.
	NewTopic func(t *testing.T) string
	// System is the messaging.system value the backend reports.
	System string
	// Partitioned is true when deliveries carry a partition id.
	Partitioned bool
	// ServerAddress is the server.address value the backend reports, empty
	// for none.
	ServerAddress string
	// PublishRaw, when set, publishes payload with header to topic through
	// the backend's own client, as a producer that is not eventbus would;
	// the suite then checks that eventbus continues a trace it started.
	PublishRaw func(t *testing.T, topic string, header map[string]string, payload []byte)
	// Timeout bounds each wait; 0 means one minute.
	Timeout time.Duration
}

// RunTelemetry checks the spans, metrics, lag and health a bus on the
// backend produces, with the OpenTelemetry SDK recording everything, as
// parallel subtests of t.
func RunTelemetry(t *testing.T, h TelemetryHarness) {
	require.NotNil(t, h.Open, "TelemetryHarness.Open is required")
	require.NotEmpty(t, h.System, "TelemetryHarness.System is required")
	if h.Timeout == 0 {
		h.Timeout = time.Minute
	}
	s := &telemetrySuite{TelemetryHarness: h, base: suite{Harness{NewTopic: h.NewTopic, Timeout: h.Timeout}}}
	tests := []namedTest{
		{"TraceAcrossTwoHops", s.testTraceAcrossHops},
		{"BatchHasCreateSpans", s.testBatch},
		{"RetriesAndDeadLetter", s.testRetriesAndDeadLetter},
		{"MetricsAfterKnownRun", s.testMetrics},
		{"LagRisesAndFalls", s.testLag},
		{"Health", s.testHealth},
	}
	if h.PublishRaw != nil {
		tests = append(tests, namedTest{"ContinuesForeignTrace", s.testForeignTrace})
	}
	runParallel(t, tests)
}

type telemetrySuite struct {
	TelemetryHarness
	base suite // for its helpers
}

// observed is a tracer and meter provider pair recording into memory.
type observed struct {
	spans  *spanLog
	reader *sdkmetric.ManualReader
	opts   []bus.OpenOption
	tracer trace.Tracer
}

func newObserved(t *testing.T) *observed {
	spans := &spanLog{SpanRecorder: tracetest.NewSpanRecorder(), changed: make(chan struct{})}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return &observed{
		spans:  spans,
		reader: reader,
		tracer: tp.Tracer("bustest"),
		opts: []bus.OpenOption{bus.TracerProvider(tp), bus.MeterProvider(mp),
			bus.Propagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))},
	}
}

// spanLog is a SpanRecorder that lets a test wait for spans to end.
type spanLog struct {
	*tracetest.SpanRecorder
	mu      sync.Mutex
	changed chan struct{}
}

func (l *spanLog) OnEnd(s sdktrace.ReadOnlySpan) {
	l.SpanRecorder.OnEnd(s)
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// wait returns the ended spans named name once there are n of them.
func (l *spanLog) wait(t *testing.T, timeout time.Duration, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		var found []sdktrace.ReadOnlySpan
		for _, s := range l.Ended() {
			if s.Name() == name {
				found = append(found, s)
			}
		}
		if len(found) >= n {
			require.Lenf(t, found, n, "spans named %q", name)
			return found
		}
		select {
		case <-changed:
		case <-deadline.C:
			require.FailNowf(t, "timed out", "waiting for %d spans named %q, have %d", n, name, len(found))
		}
	}
}

func (s *telemetrySuite) open(t *testing.T, o *observed) *bus.Bus {
	t.Helper()
	b := s.Open(t, o.opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
	return b
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// checkCommon checks the attributes every span of the bus carries.
func (s *telemetrySuite) checkCommon(t *testing.T, span sdktrace.ReadOnlySpan, operation, opType, topic string) {
	t.Helper()
	a := attrs(span)
	assert.Equal(t, s.System, a["messaging.system"].AsString(), "messaging.system of %s", span.Name())
	assert.Equal(t, topic, a["messaging.destination.name"].AsString(), "messaging.destination.name of %s", span.Name())
	assert.Equal(t, operation, a["messaging.operation.name"].AsString(), "messaging.operation.name of %s", span.Name())
	assert.Equal(t, opType, a["messaging.operation.type"].AsString(), "messaging.operation.type of %s", span.Name())
	if s.ServerAddress != "" {
		assert.Equal(t, s.ServerAddress, a["server.address"].AsString(), "server.address of %s", span.Name())
		assert.Positive(t, a["server.port"].AsInt64(), "server.port of %s", span.Name())
	}
}

// checkProcess checks a process span of message m delivered to group.
func (s *telemetrySuite) checkProcess(t *testing.T, span sdktrace.ReadOnlySpan, topic, group string, m *bus.Message, attempt int) {
	t.Helper()
	assert.Equal(t, trace.SpanKindConsumer, span.SpanKind())
	s.checkCommon(t, span, "process", "process", topic)
	a := attrs(span)
	assert.Equal(t, group, a["messaging.consumer.group.name"].AsString())
	assert.Equal(t, m.ID, a["messaging.message.id"].AsString())
	assert.Equal(t, int64(attempt), a[bus.AttributeAttempt].AsInt64())
	if s.Partitioned {
		_, err := strconv.Atoi(a["messaging.destination.partition.id"].AsString())
		assert.NoError(t, err, "messaging.destination.partition.id")
	}
	if s.System == "kafka" {
		assert.Contains(t, a, attribute.Key("messaging.kafka.offset"))
		if m.Key != "" {
			assert.Equal(t, m.Key, a["messaging.kafka.message.key"].AsString())
		}
	}
}

// linkedTo reports whether span links to sc.
func linkedTo(span sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range span.Links() {
		if l.SpanContext.SpanID() == sc.SpanID() && l.SpanContext.TraceID() == sc.TraceID() {
			return true
		}
	}
	return false
}

// testTraceAcrossHops: request → send orders → process orders → send
// payments → process payments is one trace with the documented parents.
func (s *telemetrySuite) testTraceAcrossHops(t *testing.T) {
	o := newObserved(t)
	b := s.open(t, o)
	orders, payments := s.base.topic(t), s.base.topic(t)
	ordersGroup, paymentsGroup := uniqueName("orders"), uniqueName("payments")
	var received [2]*bus.Message
	done := make(chan struct{})
	s.base.subscribe(t, b, payments, func(_ context.Context, m *bus.Message) error {
		received[1] = m
		close(done)
		return nil
	}, bus.Group(paymentsGroup))
	s.base.subscribe(t, b, orders, func(ctx context.Context, m *bus.Message) error {
		received[0] = m
		return b.Publish(ctx, payments, &bus.Message{Key: m.Key, Payload: []byte("charge")})
	}, bus.Group(ordersGroup))

	ctx, root := o.tracer.Start(t.Context(), "request")
	require.NoError(t, b.Publish(ctx, orders, &bus.Message{Key: "order-1", Payload: []byte("order")}))
	root.End()
	s.base.waitClosed(t, done, "the payment")

	sendOrders := o.spans.wait(t, s.Timeout, "send "+orders, 1)[0]
	processOrders := o.spans.wait(t, s.Timeout, "process "+orders, 1)[0]
	sendPayments := o.spans.wait(t, s.Timeout, "send "+payments, 1)[0]
	processPayments := o.spans.wait(t, s.Timeout, "process "+payments, 1)[0]

	traceID := root.SpanContext().TraceID()
	for _, span := range []sdktrace.ReadOnlySpan{sendOrders, processOrders, sendPayments, processPayments} {
		assert.Equal(t, traceID, span.SpanContext().TraceID(), "%s is in the request's trace", span.Name())
	}
	assert.Equal(t, root.SpanContext().SpanID(), sendOrders.Parent().SpanID())
	assert.Equal(t, sendOrders.SpanContext().SpanID(), processOrders.Parent().SpanID())
	assert.True(t, processOrders.Parent().IsRemote(), "the process span's parent came in the message")
	assert.True(t, linkedTo(processOrders, sendOrders.SpanContext()), "process links to the creation context")
	assert.Equal(t, processOrders.SpanContext().SpanID(), sendPayments.Parent().SpanID(), "the handler's publish is a child of its process span")
	assert.Equal(t, sendPayments.SpanContext().SpanID(), processPayments.Parent().SpanID())

	assert.Equal(t, trace.SpanKindProducer, sendOrders.SpanKind())
	s.checkCommon(t, sendOrders, "send", "send", orders)
	assert.Equal(t, received[0].ID, attrs(sendOrders)["messaging.message.id"].AsString())
	s.checkProcess(t, processOrders, orders, ordersGroup, received[0], 1)
	s.checkProcess(t, processPayments, payments, paymentsGroup, received[1], 1)
	assert.Equal(t, codes.Unset, processOrders.Status().Code)
	assert.Contains(t, received[0].Header, "traceparent", "the creation context travels as a W3C traceparent header")
}

// testBatch: a batch Publish makes one create span per message, the
// message's creation context, and one send span linking them all.
func (s *telemetrySuite) testBatch(t *testing.T) {
	o := newObserved(t)
	b := s.open(t, o)
	topic := s.base.topic(t)
	rec := newRecorder()
	s.base.subscribe(t, b, topic, rec.handler, group())
	require.NoError(t, b.Publish(t.Context(), topic, numbered("batch", 3, 3)...))
	rec.waitDistinct(t, s.Timeout, 3)

	send := o.spans.wait(t, s.Timeout, "send "+topic, 1)[0]
	creates := o.spans.wait(t, s.Timeout, "create "+topic, 3)
	processes := o.spans.wait(t, s.Timeout, "process "+topic, 3)
	assert.Equal(t, trace.SpanKindClient, send.SpanKind(), "the send span of a batch is not a creation context")
	assert.Equal(t, int64(3), attrs(send)["messaging.batch.message_count"].AsInt64())
	s.checkCommon(t, send, "send", "send", topic)
	parents := make(map[trace.SpanID]bool)
	for _, c := range creates {
		assert.Equal(t, trace.SpanKindProducer, c.SpanKind())
		s.checkCommon(t, c, "create", "create", topic)
		assert.True(t, linkedTo(send, c.SpanContext()), "send links to each create span")
		parents[c.SpanContext().SpanID()] = true
	}
	for _, p := range processes {
		assert.True(t, parents[p.Parent().SpanID()], "each process span is a child of its message's create span")
	}
}

// testRetriesAndDeadLetter: each handler run is its own process span with
// its attempt and error; the dead letter is a send span linked to the
// failed message, and its own consumers continue from it.
func (s *telemetrySuite) testRetriesAndDeadLetter(t *testing.T) {
	o := newObserved(t)
	b := s.open(t, o)
	topic, groupName := s.base.topic(t), uniqueName("group")
	deadLetterTopic := bus.DefaultDeadLetterTopic(topic, groupName)
	letters := newRecorder()
	s.base.subscribe(t, b, deadLetterTopic, letters.handler, group())
	s.base.subscribe(t, b, topic, func(context.Context, *bus.Message) error {
		return errors.New("payment declined")
	}, bus.Group(groupName), fastRetry(3), bus.DeadLetter())

	msg := &bus.Message{Key: "k", Payload: []byte("doomed")}
	require.NoError(t, b.Publish(t.Context(), topic, msg))
	letters.waitDistinct(t, s.Timeout, 1)

	send := o.spans.wait(t, s.Timeout, "send "+topic, 1)[0]
	runs := o.spans.wait(t, s.Timeout, "process "+topic, 3)
	attempts := make(map[int64]bool)
	for _, run := range runs {
		assert.Equal(t, send.SpanContext().SpanID(), run.Parent().SpanID(), "every run is a child of the creation context")
		assert.Equal(t, codes.Error, run.Status().Code)
		assert.Equal(t, "payment declined", run.Status().Description)
		assert.NotEmpty(t, attrs(run)["error.type"].AsString(), "error.type")
		attempts[attrs(run)[bus.AttributeAttempt].AsInt64()] = true
	}
	assert.Equal(t, map[int64]bool{1: true, 2: true, 3: true}, attempts, "one process span per attempt")

	deadLetterSend := o.spans.wait(t, s.Timeout, "send "+deadLetterTopic, 1)[0]
	assert.True(t, linkedTo(deadLetterSend, send.SpanContext()), "the dead letter's send links to the failed message")
	assert.Equal(t, send.SpanContext().TraceID(), deadLetterSend.SpanContext().TraceID())
	assert.True(t, attrs(deadLetterSend)[bus.AttributeDeadLetter].AsBool())
	assert.Equal(t, msg.ID, attrs(deadLetterSend)["messaging.message.id"].AsString())
	s.checkCommon(t, deadLetterSend, "send", "send", deadLetterTopic)
	letterRun := o.spans.wait(t, s.Timeout, "process "+deadLetterTopic, 1)[0]
	assert.Equal(t, deadLetterSend.SpanContext().SpanID(), letterRun.Parent().SpanID(), "dead-letter consumers continue from its send")

	m := s.collect(t, o)
	base := attribute.NewSet(attribute.String("messaging.destination.name", topic), attribute.String("messaging.consumer.group.name", groupName))
	assert.Equal(t, int64(2), m.sum(bus.MetricRetries, base), "retries")
	assert.Equal(t, int64(1), m.sum(bus.MetricDeadLetters, base), "dead letters")
	assert.Equal(t, uint64(3), m.count("messaging.process.duration", attribute.NewSet(
		attribute.String("messaging.destination.name", topic), attribute.String("error.type", "*errors.errorString"))), "failed runs")
}

// testMetrics: the counters and histograms after a known run.
func (s *telemetrySuite) testMetrics(t *testing.T) {
	o := newObserved(t)
	b := s.open(t, o)
	topic, groupName := s.base.topic(t), uniqueName("group")
	rec := newRecorder()
	s.base.subscribe(t, b, topic, rec.handler, bus.Group(groupName))
	require.NoError(t, b.Publish(t.Context(), topic, numbered("m", 3, 3)...))
	require.NoError(t, b.Publish(t.Context(), topic, numbered("n", 2, 2)...))
	rec.waitDistinct(t, s.Timeout, 5)
	o.spans.wait(t, s.Timeout, "process "+topic, 5) // each run's metrics are recorded by then

	m := s.collect(t, o)
	dest := attribute.NewSet(attribute.String("messaging.destination.name", topic), attribute.String("messaging.system", s.System))
	assert.Equal(t, int64(5), m.sum("messaging.client.sent.messages", dest))
	assert.Equal(t, uint64(2), m.count("messaging.client.operation.duration", dest), "one send operation per Publish")
	consumed := attribute.NewSet(attribute.String("messaging.destination.name", topic), attribute.String("messaging.consumer.group.name", groupName),
		attribute.String("messaging.operation.name", "process"))
	assert.Equal(t, int64(5), m.sum("messaging.client.consumed.messages", consumed))
	assert.Equal(t, uint64(5), m.count("messaging.process.duration", consumed))
	assert.Zero(t, m.sum(bus.MetricRetries, consumed))
}

// testLag: lag in messages and in seconds rises while the handler is
// blocked and falls to 0 once it lets go.
func (s *telemetrySuite) testLag(t *testing.T) {
	o := newObserved(t)
	b := s.open(t, o)
	topic, groupName := s.base.topic(t), uniqueName("group")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	rec := newRecorder()
	sub := s.base.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return rec.handler(ctx, m)
	}, bus.Group(groupName))
	require.NoError(t, b.Publish(t.Context(), topic, numbered("lag", 5, 5)...))
	s.base.waitClosed(t, entered, "the handler to start")

	gauge := attribute.NewSet(attribute.String("messaging.destination.name", topic), attribute.String("messaging.consumer.group.name", groupName))
	var lag bus.Lag
	s.eventually(t, "a lag of 5 messages", func() bool {
		var err error
		lag, err = sub.Lag(t.Context())
		require.NoError(t, err)
		return lag.Messages == 5
	})
	assert.Positive(t, lag.InFlight)
	assert.Positive(t, lag.Age)
	for _, p := range lag.Partitions {
		assert.Equal(t, s.Partitioned, p.Partition >= 0, "partition ids where the backend has them: %+v", lag.Partitions)
	}
	m := s.collect(t, o)
	assert.Len(t, points[int64](m, bus.MetricLag, gauge), len(lag.Partitions), "one lag point per partition")
	assert.Equal(t, int64(5), m.sum(bus.MetricLag, gauge), "the lag gauge, summed over partitions")
	assert.Positive(t, m.largest(bus.MetricLagAge, gauge), "the lag age gauge")
	assert.Positive(t, m.sum(bus.MetricInFlight, gauge), "the in-flight gauge")

	close(release)
	rec.waitDistinct(t, s.Timeout, 5)
	s.eventually(t, "no lag", func() bool {
		var err error
		lag, err = sub.Lag(t.Context())
		require.NoError(t, err)
		return lag.Messages == 0 && lag.InFlight == 0
	})
	assert.Zero(t, lag.Age)
	m = s.collect(t, o)
	assert.Zero(t, m.sum(bus.MetricLag, gauge))
	assert.Zero(t, m.largest(bus.MetricLagAge, gauge))
	assert.Zero(t, m.sum(bus.MetricInFlight, gauge))
}

// testHealth: a running bus and subscription are healthy; a closed one is
// not, over the HTTP handler too.
func (s *telemetrySuite) testHealth(t *testing.T) {
	o := newObserved(t)
	b := s.Open(t, o.opts...)
	topic := s.base.topic(t)
	rec := newRecorder()
	s.base.subscribe(t, b, topic, rec.handler, group())
	require.NoError(t, b.Publish(t.Context(), topic, &bus.Message{Payload: []byte("ping")}))
	rec.waitDistinct(t, s.Timeout, 1)

	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	report := b.Health(ctx)
	assert.True(t, report.Healthy, "%+v", report)
	require.Len(t, report.Subscriptions, 1)
	assert.Equal(t, topic, report.Subscriptions[0].Topic)
	assert.True(t, report.Subscriptions[0].Healthy, "%+v", report.Subscriptions[0])

	srv := httptest.NewServer(b.HealthHandler(s.Timeout))
	defer srv.Close()
	assert.Equal(t, http.StatusOK, getStatus(t, srv.URL))

	closeCtx, closeCancel := context.WithTimeout(t.Context(), s.Timeout)
	defer closeCancel()
	require.NoError(t, b.Close(closeCtx))
	report = b.Health(ctx)
	assert.False(t, report.Healthy)
	assert.Empty(t, report.Subscriptions, "closed subscriptions are not reported")
	assert.Equal(t, http.StatusServiceUnavailable, getStatus(t, srv.URL))
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// testForeignTrace: a message with a traceparent written by a producer
// that is not eventbus is processed in that trace.
func (s *telemetrySuite) testForeignTrace(t *testing.T) {
	o := newObserved(t)
	b := s.open(t, o)
	topic := s.base.topic(t)
	rec := newRecorder()
	s.base.subscribe(t, b, topic, rec.handler, group())
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	s.PublishRaw(t, topic, map[string]string{"traceparent": "00-" + traceID + "-" + spanID + "-01", "tracestate": "vendor=abc"}, []byte("foreign"))
	rec.waitDistinct(t, s.Timeout, 1)
	run := o.spans.wait(t, s.Timeout, "process "+topic, 1)[0]
	assert.Equal(t, traceID, run.SpanContext().TraceID().String())
	assert.Equal(t, spanID, run.Parent().SpanID().String())
	assert.Equal(t, "vendor=abc", run.SpanContext().TraceState().String())
}

func (s *telemetrySuite) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, s.Timeout, 20*time.Millisecond, "waiting for %s", what)
}

// metrics is one collection of a ManualReader.
type metrics struct{ rm metricdata.ResourceMetrics }

func (s *telemetrySuite) collect(t *testing.T, o *observed) metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, o.reader.Collect(t.Context(), &rm))
	return metrics{rm}
}

// matches reports whether set holds every attribute of want.
func matches(set, want attribute.Set) bool {
	for _, kv := range want.ToSlice() {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

func (m metrics) each(name string, fn func(data metricdata.Aggregation)) {
	for _, sm := range m.rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name == name {
				fn(md.Data)
			}
		}
	}
}

// points returns the data points of the int64 or float64 sum or gauge
// name whose attributes hold want.
func points[N int64 | float64](m metrics, name string, want attribute.Set) []metricdata.DataPoint[N] {
	var found []metricdata.DataPoint[N]
	m.each(name, func(data metricdata.Aggregation) {
		var all []metricdata.DataPoint[N]
		switch d := data.(type) {
		case metricdata.Sum[N]:
			all = d.DataPoints
		case metricdata.Gauge[N]:
			all = d.DataPoints
		}
		for _, p := range all {
			if matches(p.Attributes, want) {
				found = append(found, p)
			}
		}
	})
	return found
}

// sum adds up the int64 counter or gauge points of name whose attributes
// hold want: over partitions, for the lag gauge.
func (m metrics) sum(name string, want attribute.Set) int64 {
	var total int64
	for _, p := range points[int64](m, name, want) {
		total += p.Value
	}
	return total
}

// largest is the largest float64 gauge point of name whose attributes
// hold want.
func (m metrics) largest(name string, want attribute.Set) float64 {
	var largest float64
	for _, p := range points[float64](m, name, want) {
		largest = max(largest, p.Value)
	}
	return largest
}

// count adds up the histogram counts of name whose attributes hold want.
func (m metrics) count(name string, want attribute.Set) uint64 {
	var total uint64
	m.each(name, func(data metricdata.Aggregation) {
		if h, ok := data.(metricdata.Histogram[float64]); ok {
			for _, p := range h.DataPoints {
				if matches(p.Attributes, want) {
					total += p.Count
				}
			}
		}
	})
	return total
}
