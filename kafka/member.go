package kafka

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// member is one librdkafka consumer: one member of a consumer group. A
// connection's subscriptions to one group share a member, one topic each,
// so that a process pays for a consumer (its threads, buffers, group
// membership and rebalances) per group rather than per topic. A
// transactional or ephemeral subscription has a member of its own.
//
// Only the poll goroutine (poll.go) calls the consumer's assignment and
// subscription methods; subscriptions meet it in the state below, under mu,
// which also guards each subscription's own state.
type member struct {
	conn     *conn
	key      memberKey // where conn.members lists it; zero when private
	consumer *kafka.Consumer
	logger   *slog.Logger

	mu      sync.Mutex
	subs    map[string]*subscription // by topic, from join until left
	orphans map[string]int           // assigned partitions per topic that no subscription serves
	closing bool                     // the consumer is to close: no subscription joins any more

	changed atomic.Bool   // the subscribed topics are to change
	wake    chan struct{} // changed was set
	drained chan struct{} // a subscription's queue went below its limit
	settled chan struct{} // a revoked partition's last delivery settled
	done    chan struct{} // poll returned
	err     error         // why poll gave up; set before done closes
	logs    sync.WaitGroup
}

// memberKey names the members subscriptions may share: those of one group
// that speak one group protocol.
type memberKey struct{ group, protocol string }

func (c *conn) newMember(key memberKey, cfg *kafka.ConfigMap, logger *slog.Logger) (*member, error) {
	consumer, err := kafka.NewConsumer(cfg)
	if err != nil {
		return nil, fmt.Errorf("new consumer: %w", err)
	}
	m := &member{
		conn:     c,
		key:      key,
		consumer: consumer,
		logger:   logger.With("consumer", consumer.String()),
		subs:     make(map[string]*subscription),
		orphans:  make(map[string]int),
		wake:     make(chan struct{}, 1),
		drained:  make(chan struct{}, 1),
		settled:  make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	m.logs.Go(func() { forwardLogs(logger, consumer.Logs()) })
	return m, nil
}

// join adds s to a member of its group that serves no subscription to its
// topic yet, or to a new one, and has its poll subscribe to the topic; s's
// joined reports how that went.
func (c *conn) join(key memberKey, s *subscription) error {
	c.membersMu.Lock()
	var m *member
	for _, candidate := range c.members[key] {
		if candidate.take(s) {
			m = candidate
			break
		}
	}
	if m == nil {
		var err error
		m, err = c.newMember(key, c.cfg.consumerConfig(key.group, key.protocol, false),
			c.logger.With("group", key.group))
		if err != nil {
			c.membersMu.Unlock()
			return err
		}
		m.take(s)
		if c.members == nil {
			c.members = make(map[memberKey][]*member)
		}
		c.members[key] = append(c.members[key], m)
		go m.poll()
	}
	c.membersMu.Unlock()
	m.topicsChanged()
	return nil
}

// take adds s when no subscription of this member, current or leaving,
// serves its topic and none of the topic's partitions is assigned here.
// Callers hold conn.membersMu.
func (m *member) take(s *subscription) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing || m.subs[s.topic] != nil || m.orphans[s.topic] > 0 {
		return false
	}
	s.m, s.mu = m, &m.mu
	m.subs[s.topic] = s
	return true
}

// topicsChanged asks poll to subscribe the consumer to the current topics.
func (m *member) topicsChanged() {
	m.changed.Store(true)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// resubscribe subscribes the consumer to the topics of the subscriptions
// that are not leaving, and reports false when none is left: the member
// is then unlisted, and poll closes the consumer. It runs on the poll
// goroutine.
func (m *member) resubscribe() bool {
	m.conn.membersMu.Lock()
	m.mu.Lock()
	var topics []string
	var joining []*subscription
	for topic, s := range m.subs {
		if s.leaving {
			s.unsubscribed = true
			continue
		}
		topics = append(topics, topic)
		if s.joining {
			joining = append(joining, s)
		}
	}
	if len(topics) == 0 {
		m.unlist()
	}
	m.mu.Unlock()
	m.conn.membersMu.Unlock()
	if len(topics) == 0 {
		return false
	}
	slices.Sort(topics)
	err := m.consumer.SubscribeTopics(topics, m.rebalance)
	if err != nil {
		err = fmt.Errorf("subscribe to %v: %w", topics, err)
	}
	m.mu.Lock()
	for _, s := range joining {
		s.joined <- err
		s.joining = false
		if err != nil {
			delete(m.subs, s.topic) // it never served
		}
	}
	m.mu.Unlock()
	if err != nil {
		m.topicsChanged() // without the topics that failed
	}
	return true
}

// unlist marks the member closing and takes it off conn.members, so that
// no subscription joins it any more. Callers hold conn.membersMu and mu.
func (m *member) unlist() {
	m.closing = true
	if m.key == (memberKey{}) {
		return // private, never listed
	}
	c := m.conn
	c.members[m.key] = slices.DeleteFunc(c.members[m.key], func(o *member) bool { return o == m })
	if len(c.members[m.key]) == 0 {
		delete(c.members, m.key)
	}
}

// left finishes the subscriptions that left and whose partitions are all
// revoked. Callers hold mu.
func (m *member) left() []*subscription {
	var out []*subscription
	for topic, s := range m.subs {
		if s.unsubscribed && len(s.parts) == 0 {
			delete(m.subs, topic)
			out = append(out, s)
		}
	}
	return out
}

// finish tells subscriptions that they are done: they left, or the
// consumer is closed.
func finish(subs []*subscription) {
	for _, s := range subs {
		close(s.done)
	}
}

// subscriptions is every subscription of the member, in no order.
// Callers hold mu.
func (m *member) subscriptions() []*subscription {
	return slices.Collect(maps.Values(m.subs))
}
