package bus

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Lag is how far a subscription is behind its topic.
type Lag struct {
	// Messages counts the messages published to the topic that the
	// subscription's group has not acknowledged yet, over all partitions;
	// -1 when the backend cannot tell (see Partitions).
	Messages int64
	// Partitions splits Messages by partition, for the partitions this
	// subscription consumes; one entry with Partition -1 on a backend
	// without partitions; empty when Messages is -1.
	Partitions []PartitionLag
	// Age is how long ago the oldest message the subscription holds
	// unsettled was published (its Time): 0 when it holds none. Messages
	// still at the broker, not yet received, are not counted.
	Age time.Duration
	// InFlight counts the messages received and not yet settled.
	InFlight int
}

// PartitionLag is a group's backlog on one partition.
type PartitionLag struct {
	Partition int32 // -1 for a backend without partitions
	Messages  int64
	// Oldest is the time of the oldest message the group has not
	// acknowledged, where it is known (Bus.GroupLag reads it); zero
	// otherwise.
	Oldest time.Time
}

// Age is how long the oldest unacknowledged message has waited, at now; 0
// when nothing waits or its time is not known.
func (l PartitionLag) Age(now time.Time) time.Duration {
	if l.Messages == 0 || l.Oldest.IsZero() {
		return 0
	}
	return max(now.Sub(l.Oldest), 0)
}

// ErrLagUnknown is wrapped by Lag's error when the backend cannot count
// the messages the group has not acknowledged.
var ErrLagUnknown = driver.ErrLagUnknown

// Lag reports how far the subscription is behind its topic, asking the
// backend within ctx for the count of messages. When the backend cannot
// count them the error wraps ErrLagUnknown and Lag still holds Age and
// InFlight.
func (s *Subscription) Lag(ctx context.Context) (Lag, error) {
	lag := Lag{Messages: -1}
	if s.tel != nil {
		lag.InFlight, lag.Age = s.tel.inFlight.oldest(time.Now())
	}
	reporter, ok := s.driverSub.(driver.LagReporter)
	if !ok {
		return lag, fmt.Errorf("%w: %s", ErrLagUnknown, s.bus.name)
	}
	parts, err := reporter.Lag(ctx)
	if err != nil {
		return lag, fmt.Errorf("eventbus: lag of %q: %w", s.topic, err)
	}
	lag.Messages = 0
	lag.Partitions = make([]PartitionLag, len(parts))
	for i, p := range parts {
		lag.Partitions[i] = PartitionLag(p)
		lag.Messages += p.Messages
	}
	slices.SortFunc(lag.Partitions, func(a, b PartitionLag) int { return int(a.Partition - b.Partition) })
	return lag, nil
}

// inFlightLog remembers the publish time of the messages a subscription
// holds, to tell the age of the oldest. Messages take entries in turn in a
// ring at least as long as the subscription's in-flight bound: a message is
// settled, freeing its entry, before the ring comes round to it again,
// since no more messages than that are ever held. Recording costs an atomic
// store when a message arrives and one when it is settled, and no lock;
// reading scans the ring.
type inFlightLog struct {
	// entries hold the UnixNano publish time of a held message, 0 once it
	// is settled.
	entries []atomic.Int64
	next    uint64 // the entry the next message takes; the receive loop's alone
}

func newInFlightLog(bound int) inFlightLog {
	size := 1
	for size < bound {
		size *= 2
	}
	return inFlightLog{entries: make([]atomic.Int64, size)}
}

// add records m; only the receive loop calls it.
func (l *inFlightLog) add(m *Message) {
	m.inFlightEntry = l.next
	l.next = (l.next + 1) & uint64(len(l.entries)-1)
	published := m.Time.UnixNano()
	if published == 0 {
		published = 1 // 0 means settled
	}
	l.entries[m.inFlightEntry].Store(published)
}

func (l *inFlightLog) remove(m *Message) { l.entries[m.inFlightEntry].Store(0) }

// oldest counts the messages held and tells the age of the oldest
// published one.
func (l *inFlightLog) oldest(now time.Time) (held int, age time.Duration) {
	var oldest int64
	for i := range l.entries {
		if published := l.entries[i].Load(); published != 0 {
			held++
			if oldest == 0 || published < oldest {
				oldest = published
			}
		}
	}
	if held == 0 {
		return 0, 0
	}
	return held, max(0, now.Sub(time.Unix(0, oldest)))
}

// subscriptionTelemetry is a subscription's share of the bus telemetry:
// attributes and options made once, the in-flight log and the gauge
// callback. A nil one records nothing.
type subscriptionTelemetry struct {
	bus *telemetry
	sub *Subscription

	processName  string
	processStart []trace.SpanStartOption
	processRoot  []trace.SpanStartOption // processStart for a message without a creation context
	processAttrs []attribute.KeyValue
	processOpts  []metric.RecordOption
	consumedOpts []metric.AddOption
	counterOpts  []metric.AddOption // retries, dead letters, nacks
	gaugeAttrs   []attribute.KeyValue
	gaugeOpts    metric.MeasurementOption

	inFlight     inFlightLog
	registration metric.Registration
}

// subscription makes the telemetry of s and registers its gauges.
func (t *telemetry) subscription(s *Subscription) *subscriptionTelemetry {
	if t == nil {
		return nil
	}
	base := t.attributes(s.topic)
	if s.cfg.group != "" {
		base = append(base, semconv.MessagingConsumerGroupName(s.cfg.group))
		if t.system == "pulsar" {
			// A Pulsar group is a named subscription.
			base = append(base, semconv.MessagingDestinationSubscriptionName(s.cfg.group))
		}
	}
	processAttrs := append(slices.Clip(base), semconv.MessagingOperationName(operationProcess), semconv.MessagingOperationTypeProcess)
	processSet := attribute.NewSet(processAttrs...)
	baseSet := attribute.NewSet(base...)
	st := &subscriptionTelemetry{
		bus:          t,
		sub:          s,
		processName:  operationProcess + " " + s.topic,
		processStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(processAttrs...)},
		processRoot:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(processAttrs...), trace.WithNewRoot()},
		processAttrs: processAttrs,
		processOpts:  []metric.RecordOption{metric.WithAttributeSet(processSet)},
		consumedOpts: []metric.AddOption{metric.WithAttributeSet(processSet)},
		counterOpts:  []metric.AddOption{metric.WithAttributeSet(baseSet)},
		gaugeAttrs:   base,
		gaugeOpts:    metric.WithAttributeSet(baseSet),
		inFlight:     newInFlightLog(s.cfg.maxInFlight),
	}
	reg, err := t.meter.RegisterCallback(st.observe, t.inFlight, t.lag, t.lagAge)
	if err != nil {
		t.logger.Warn("eventbus: lag and in-flight gauges are not recorded", "topic", s.topic, "err", err)
	} else {
		st.registration = reg
	}
	return st
}

// received records a message the subscription took from the backend; the
// receive loop calls it.
func (st *subscriptionTelemetry) received(m *Message) {
	if st == nil {
		return
	}
	st.inFlight.add(m)
	st.bus.consumed.Add(context.Background(), 1, st.consumedOpts...)
}

// retried counts a failed handler run that will run again.
func (st *subscriptionTelemetry) retried() {
	if st != nil {
		st.bus.retries.Add(context.Background(), 1, st.counterOpts...)
	}
}

// settled records that m was acked or nacked.
func (st *subscriptionTelemetry) settled(m *Message, ack bool) {
	if st == nil {
		return
	}
	st.inFlight.remove(m)
	if !ack {
		st.bus.nacks.Add(context.Background(), 1, st.counterOpts...)
	}
}

// stop unregisters the gauges once the subscription has shut down.
func (st *subscriptionTelemetry) stop() {
	if st != nil && st.registration != nil {
		if err := st.registration.Unregister(); err != nil {
			st.bus.logger.Debug("eventbus: unregister gauges", "err", err)
		}
	}
}
