package bus

import (
	"context"
	"errors"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Delayed delivery.
//
// A message whose DeliverAt is later than now reaches no handler before
// then, by the consumer's clock: a subscription holds a delivery that comes
// early (see holdUntilDue), whatever the backend did. How the message waits
// until then depends on the backend:
//   - memory and Pulsar (Shared and Key_Shared subscriptions) hold it in the
//     broker; the subscription's own hold covers the rest, such as
//     Pulsar's early delivery by up to its tick time, or Exclusive and
//     Failover subscriptions, which Pulsar does not delay;
//   - on a backend without delays of its own (Kafka), Publish writes it to
//     DelayTopic(topic), and every Subscribe to topic with a Group also runs
//     a forwarder in the group DelayForwarderGroup(topic) (ephemeral
//     subscriptions, such as a Requester's replies, do not): it holds each
//     message until
//     it is due, publishes it to topic, and acks it only once that publish
//     is durable. The forwarder group spans every subscriber of the topic,
//     whatever its group, so each message is forwarded once, the work is
//     shared and it fails over like any group.
//
// A delayed message joins its key's order when it becomes due: it is not
// held behind, and does not hold back, messages of its key published
// before it is due.

// maxDelayedHeld bounds the delayed messages one forwarder holds in memory.
// Beyond it, fetching from the delay topic waits for the earliest held
// message to become due.
const maxDelayedHeld = 4096

// DelayTopic is the topic where Publish puts delayed messages for topic on
// a backend that cannot delay them itself: "<topic>.delay".
func DelayTopic(topic string) string { return topic + ".delay" }

// DelayForwarderGroup is the consumer group of the forwarders of
// DelayTopic(topic): "eventbus-delay.<topic>".
func DelayForwarderGroup(topic string) string { return "eventbus-delay." + topic }

// send publishes msgs to topic, the ones due later than now to its delay
// topic when the backend cannot delay them itself.
func (b *Bus) send(ctx context.Context, topic string, msgs []driver.Message, now time.Time) error {
	delayed := 0
	if !b.caps.DelayedDelivery {
		for i := range msgs {
			if msgs[i].DeliverAt.After(now) {
				delayed++
			}
		}
	}
	switch delayed {
	case 0:
		return b.conn.Publish(ctx, topic, msgs)
	case len(msgs):
		return b.conn.Publish(ctx, DelayTopic(topic), msgs)
	}
	due := make([]driver.Message, 0, len(msgs)-delayed)
	later := make([]driver.Message, 0, delayed)
	for i := range msgs {
		if msgs[i].DeliverAt.After(now) {
			later = append(later, msgs[i])
		} else {
			due = append(due, msgs[i])
		}
	}
	dueErrs := perMessage(b.conn.Publish(ctx, topic, due), len(due))
	laterErrs := perMessage(b.conn.Publish(ctx, DelayTopic(topic), later), len(later))
	if dueErrs == nil && laterErrs == nil {
		return nil
	}
	errs := make(driver.MessageErrors, len(msgs))
	d, l := 0, 0
	for i := range msgs {
		if msgs[i].DeliverAt.After(now) {
			if laterErrs != nil {
				errs[i] = laterErrs[l]
			}
			l++
		} else {
			if dueErrs != nil {
				errs[i] = dueErrs[d]
			}
			d++
		}
	}
	return errs
}

// perMessage spreads the result of publishing n messages over each of
// them; nil when all succeeded.
func perMessage(err error, n int) driver.MessageErrors {
	if err == nil {
		return nil
	}
	var each driver.MessageErrors
	if errors.As(err, &each) && len(each) == n {
		return each
	}
	each = make(driver.MessageErrors, n)
	for i := range each {
		each[i] = err
	}
	return each
}

// holdUntilDue keeps the head m of q from running before its DeliverAt,
// and reports whether it did; at shutdown m is given back instead.
//
// A message that came early (Pulsar hands delayed messages out up to its
// tick early, and not delayed at all on Exclusive and Failover
// subscriptions) waits in a queue of its own, holding back nothing, and
// joins its key's queue once due, as the backend would have delivered it.
// In a retry stage it waits at the head of its key's queue instead: the
// key's later parked messages are due no earlier and must run after it.
func (s *Subscription) holdUntilDue(q *keyQueue, m *Message) bool {
	var wait time.Duration
	if !m.DeliverAt.IsZero() { // most messages are due: spare them the clock
		wait = time.Until(m.DeliverAt)
	}
	if wait <= 0 {
		if q.key == "" && m.Key != "" && !s.cfg.companion.unordered {
			s.rejoin(q, m)
			return true
		}
		return false
	}
	if !s.lockUnlessStopping(q) {
		return true
	}
	var emptied *keyQueue
	if q.key != "" && s.cfg.companion.stage == 0 {
		emptied = s.detachHead(q)
		own := keyQueues.Get().(*keyQueue)
		own.msgs = append(own.msgs, m)
		q = own
	}
	s.waitToRun(q, m, wait)
	s.mu.Unlock()
	if emptied != nil {
		keyQueues.Put(emptied)
	}
	return true
}

// detachHead takes the head out of q and lets the key's next message run.
// It returns q when that left it empty, for the caller to recycle once
// s.mu is released. s.mu is held.
func (s *Subscription) detachHead(q *keyQueue) (emptied *keyQueue) {
	copy(q.msgs, q.msgs[1:])
	q.msgs[len(q.msgs)-1] = nil
	q.msgs = q.msgs[:len(q.msgs)-1]
	q.failures, q.firstFailure, q.lastErr = 0, time.Time{}, nil
	if len(q.msgs) > 0 {
		s.ready <- q
		return nil
	}
	s.forget(q)
	return q
}

// rejoin moves m, due now, from the queue of its own it waited in to its
// key's queue.
func (s *Subscription) rejoin(own *keyQueue, m *Message) {
	s.mu.Lock()
	s.queue(m)
	s.mu.Unlock()
	clear(own.msgs)
	own.msgs = own.msgs[:0]
	keyQueues.Put(own)
}

// deferRun is asked before the head m of q runs; it reports whether m
// must not run now because it waits for its turn in a retry stage, is
// parked behind its key's later stage, or is not due yet. It has then taken care
// of m.
func (s *Subscription) deferRun(q *keyQueue, m *Message) bool {
	s.learnParked(m)
	return s.waitTurn(q, m) || s.parkBehind(q, m) || s.holdUntilDue(q, m)
}

// startDelayForwarder subscribes the forwarder of topic's delay topic, on a
// backend without delays of its own. It returns nil when the delay topic
// does not exist and the backend does not create topics (nothing can have
// been published to it), or when the backend cannot tell (it is no
// driver.TopicEnsurer).
func (b *Bus) startDelayForwarder(ctx context.Context, topic string) (*Subscription, error) {
	delayTopic := DelayTopic(topic)
	ensurer, ok := b.conn.(driver.TopicEnsurer)
	if !ok {
		return nil, nil
	}
	if err := ensurer.EnsureTopic(ctx, delayTopic); err != nil {
		if errors.Is(err, ErrTopicNotFound) {
			b.logger.Debug("no delay topic: delayed messages to this topic are not forwarded", "topic", topic, "delay_topic", delayTopic)
			return nil, nil
		}
		return nil, err
	}
	forward := func(ctx context.Context, m *Message) error {
		return b.conn.Publish(ctx, topic, []driver.Message{{
			ID: m.ID, Key: m.Key, Payload: m.Payload, Header: m.Header, Time: m.Time, DeliverAt: m.DeliverAt,
		}})
	}
	return b.Subscribe(ctx, delayTopic, forward,
		Group(DelayForwarderGroup(topic)),
		Concurrency(4),
		MaxInFlight(maxDelayedHeld),
		companionOf(companion{origin: topic, unordered: true}))
}
