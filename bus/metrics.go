package bus

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
)

// Names of eventbus's own metrics, beside the conventional
// messaging.client.operation.duration, messaging.process.duration,
// messaging.client.sent.messages and messaging.client.consumed.messages.
const (
	MetricRetries     = "eventbus.retries"            // handler failures that will run again
	MetricDeadLetters = "eventbus.dead_letters"       // messages sent to a dead-letter topic
	MetricNacks       = "eventbus.nacks"              // messages handed back for redelivery
	MetricInFlight    = "eventbus.messages.in_flight" // received, not yet settled
	MetricLag         = "eventbus.consumer.lag"       // published, not yet acknowledged by the group
	MetricLagAge      = "eventbus.consumer.lag.age"   // age of the oldest unsettled message
	attributePartID   = semconv.MessagingDestinationPartitionIDKey
)

// makeInstruments creates the bus's instruments; one that cannot be made
// is logged and replaced by a no-op, since telemetry never stops the bus.
func (t *telemetry) makeInstruments() {
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	operationDuration, err := messagingconv.NewClientOperationDuration(t.meter)
	note(err)
	processDuration, err := messagingconv.NewProcessDuration(t.meter)
	note(err)
	sent, err := messagingconv.NewClientSentMessages(t.meter)
	note(err)
	consumed, err := messagingconv.NewClientConsumedMessages(t.meter)
	note(err)
	t.operationDuration, t.processDuration = operationDuration.Inst(), processDuration.Inst()
	t.sent, t.consumed = sent.Inst(), consumed.Inst()

	counter := func(name, unit, description string) metric.Int64Counter {
		c, err := t.meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(description))
		if err != nil {
			note(err)
			return noop.Int64Counter{}
		}
		return c
	}
	t.retries = counter(MetricRetries, "{retry}", "Handler failures that the subscription's retry policy runs again.")
	t.deadLetters = counter(MetricDeadLetters, "{message}", "Messages published to a dead-letter topic after their handler failed for good.")
	t.nacks = counter(MetricNacks, "{message}", "Messages handed back to the backend for redelivery.")

	gauge := func(name, unit, description string) metric.Int64ObservableGauge {
		g, err := t.meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(description))
		if err != nil {
			note(err)
			return noop.Int64ObservableGauge{}
		}
		return g
	}
	t.inFlight = gauge(MetricInFlight, "{message}", "Messages a subscription has received and not yet settled.")
	t.lag = gauge(MetricLag, "{message}", "Messages published to the topic (per partition where it has them) that the subscription's group has not acknowledged yet.")
	lagAge, err := t.meter.Float64ObservableGauge(MetricLagAge, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest message the subscription has received and not yet settled: how far handling is behind publishing, in time."))
	if err != nil {
		note(err)
		lagAge = noop.Float64ObservableGauge{}
	}
	t.lagAge = lagAge
	if err := errors.Join(errs...); err != nil {
		t.logger.Warn("eventbus: some metrics are not recorded", "err", err)
	}
}

// observeSubscription reports the in-flight, lag and lag age gauges of s
// on every collection.
func (st *subscriptionTelemetry) observe(ctx context.Context, o metric.Observer) error {
	t := st.bus
	lag, err := st.sub.Lag(ctx)
	if err != nil {
		st.sub.logger.Debug("eventbus: lag unknown", "err", err)
	}
	o.ObserveInt64(t.inFlight, int64(lag.InFlight), st.gaugeOpts)
	o.ObserveFloat64(t.lagAge, lag.Age.Seconds(), st.gaugeOpts)
	if lag.Messages < 0 {
		return nil
	}
	for _, p := range lag.Partitions {
		opts := st.gaugeOpts
		if p.Partition >= 0 {
			opts = metric.WithAttributeSet(attribute.NewSet(append(st.gaugeAttrs[:len(st.gaugeAttrs):len(st.gaugeAttrs)],
				attributePartID.String(strconv.Itoa(int(p.Partition))))...))
		}
		o.ObserveInt64(t.lag, p.Messages, opts)
	}
	return nil
}
