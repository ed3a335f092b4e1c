package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/internal/fifo"
)

// subscription is one topic of a member's consumer (member.go).
//
// The code is split by concern: this file is what package bus calls
// (Receive, Ack, Nack, StopReceiving, Close); member.go is which consumer
// serves which subscriptions; group.go is membership and rebalances;
// poll.go is the goroutine that owns the consumer; partition.go holds each
// partition's offsets.
type subscription struct {
	conn      *conn
	m         *member
	topic     string
	ephemeral bool // no group: assigned by hand, commits nothing
	logger    *slog.Logger
	limit     int // buffered messages at which partitions are paused

	mu           *sync.Mutex          // the member's; guards what follows
	parts        map[int32]*partition // the current assignment
	queue        fifo.Queue[polled]   // polled or due again, not yet handed to bus
	stopping     bool                 // StopReceiving was called: nothing more is handed out
	joining      bool                 // waiting for the consumer to subscribe to the topic
	leaving      bool                 // Close was called: bus has settled all it will
	unsubscribed bool                 // the consumer no longer subscribes to the topic

	wake   chan struct{} // a message was queued
	joined chan error    // the consumer subscribed to the topic, or could not
	stop   chan struct{} // Close was called
	done   chan struct{} // the subscription left its member, or the member stopped

	stopOnce sync.Once

	tx *transactor // commits acks with their outputs, for SubscribeTx only
}

// polled is a message waiting in queue: polled, or nacked and due again.
type polled struct {
	msg *kafka.Message
	p   *partition
}

// Subscribe implements driver.Conn. With a group it joins the group; without
// one it assigns itself every partition at its end offset and commits
// nothing.
func (c *conn) Subscribe(ctx context.Context, topic string, cfg driver.SubscribeConfig) (driver.Subscription, error) {
	return c.subscribe(ctx, topic, cfg, false)
}

// subscribe makes a subscription, transactional (see tx.go) or not. A
// plain group subscription shares its group's member (joinGroup); the
// others get one of their own.
func (c *conn) subscribe(ctx context.Context, topic string, cfg driver.SubscribeConfig, transactional bool) (*subscription, error) {
	if c.closed.IsClosed() {
		return nil, driver.ErrClosed
	}
	if len(cfg.Options) > 0 {
		return nil, fmt.Errorf("kafka: subscribe to %q: %w", topic, driver.UnknownOption(cfg.Options[0]))
	}
	if err := c.ensureTopic(ctx, topic, topicExists); err != nil {
		return nil, err
	}
	s := &subscription{
		conn:      c,
		topic:     topic,
		ephemeral: cfg.Group == "",
		logger:    c.logger.With("topic", topic, "group", cfg.Group),
		limit:     c.cfg.receiveBuffer,
		parts:     make(map[int32]*partition),
		joining:   cfg.Group != "",
		wake:      make(chan struct{}, 1),
		joined:    make(chan error, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	var err error
	switch {
	case s.ephemeral:
		err = c.subscribePrivate(ctx, s, driver.EphemeralGroup(), false)
	case transactional:
		err = c.subscribePrivate(ctx, s, cfg.Group, true)
	default:
		err = c.joinGroup(ctx, s, cfg.Group)
	}
	if err == nil && !s.ephemeral {
		select {
		case err = <-s.joined:
		case <-ctx.Done():
			go func() { _ = s.Close(context.Background()) }()
			return nil, fmt.Errorf("kafka: subscribe to %q: %w", topic, ctx.Err())
		}
	}
	if err != nil {
		if s.tx != nil {
			s.tx.close()
		}
		return nil, fmt.Errorf("kafka: subscribe to %q: %w", topic, err)
	}
	return s, nil
}

// joinGroup adds s to its group's shared member under the KIP-848
// protocol. Under the classic protocol each subscription keeps a member of
// its own: there, changing a member's topics rebalances the whole group,
// and a member closed during such a rebalance (a bus closing its
// subscriptions one after another) could hang in librdkafka's close or
// lose its final commit.
func (c *conn) joinGroup(ctx context.Context, s *subscription, group string) error {
	protocol := c.chooseGroupProtocol(ctx)
	if protocol == "classic" {
		return c.subscribePrivate(ctx, s, group, false)
	}
	return c.join(memberKey{group, protocol}, s)
}

// subscribePrivate gives s a member of its own: an ephemeral subscription
// assigns itself the topic's partitions, a transactional one commits with
// the consumer's group metadata, which must be its alone.
func (c *conn) subscribePrivate(ctx context.Context, s *subscription, group string, transactional bool) error {
	protocol := "classic"
	if !s.ephemeral {
		protocol = c.chooseGroupProtocol(ctx)
	}
	consumerConfig := c.cfg.consumerConfig(group, protocol, s.ephemeral)
	if transactional {
		// Offsets are committed only in transactions.
		(*consumerConfig)["enable.auto.commit"] = false
	}
	m, err := c.newMember(memberKey{}, consumerConfig, s.logger)
	if err != nil {
		return err
	}
	m.take(s)
	if transactional {
		s.tx, err = newTransactor(ctx, s, group)
	}
	if err == nil && s.ephemeral {
		err = s.assignAtEnd(ctx)
	}
	if err != nil {
		_ = m.consumer.Close()
		m.logs.Wait()
		return err
	}
	go m.poll()
	if !s.ephemeral {
		m.topicsChanged()
	}
	return nil
}

// Receive implements driver.Subscription. The records are decoded after
// the member's lock is released: the poll goroutine takes it for every
// record it queues.
func (s *subscription) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	for {
		s.mu.Lock()
		n := 0
		if !s.stopping {
			queued := s.queue.Items()
			n = min(len(batch), len(queued))
			for i := range n {
				s.handOut(&batch[i], queued[i])
			}
			s.queue.Drop(n)
		}
		below := s.queue.Len() < s.limit
		s.mu.Unlock()
		for i := range n {
			batch[i].Message = messageOf(batch[i].Receipt.Native.(*kafka.Message))
		}
		if n > 0 {
			if below {
				select {
				case s.m.drained <- struct{}{}:
				default:
				}
			}
			return n, nil
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.done:
			return 0, s.stopped()
		}
	}
}

// handOut fills d's receipt from q, and marks its offset handed out; its
// message is decoded outside mu. Callers hold mu.
func (s *subscription) handOut(d *driver.Delivery, q polled) {
	m, p := q.msg, q.p
	offset := int64(m.TopicPartition.Offset)
	*d = driver.Delivery{
		Receipt: driver.Receipt{
			Attempt:   1 + p.attempts[offset],
			Partition: p.id,
			Offset:    offset,
			Withdrawn: p.withdrawn,
			Handle:    p,
			Native:    m,
		},
	}
	p.handOut(offset)
}

// messageOf decodes a record: its key, value and timestamp, the
// CloudEvents and user headers, and an ID from its position when it has
// none.
func messageOf(m *kafka.Message) driver.Message {
	msg := driver.Message{Key: string(m.Key), Payload: m.Value, Time: m.Timestamp}
	for _, h := range m.Headers {
		driver.DecodeHeader(&msg, h.Key, h.Value)
	}
	setPositionID(&msg, m)
	return msg
}

// Ack implements driver.Subscription: the offset counts toward the
// partition's acked prefix, which poll stores for commit, or toward the
// acked offsets beyond it, which the commit's metadata carries.
func (s *subscription) Ack(r *driver.Receipt) error {
	if s.tx != nil {
		return s.AckWith(r, nil)
	}
	p, offset := delivered(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.settle(offset, true) {
		s.settledOne(p)
	}
	return nil
}

// Nack implements driver.Subscription: the message is queued again after
// delay, with no seek, so nothing else in its partition is redelivered or
// waits for it. Its offset holds back the partition's commit until it is
// acked. After StopReceiving it is left for the partition's next owner.
func (s *subscription) Nack(r *driver.Receipt, delay time.Duration) error {
	p, offset := delivered(r)
	msg := r.Native.(*kafka.Message)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !p.settle(offset, false) {
		return nil
	}
	s.settledOne(p)
	if p.revoked || s.stopping {
		return nil
	}
	time.AfterFunc(delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if p.revoked || s.stopping || s.parts[p.id] != p {
			return
		}
		s.queue.Push(polled{msg: msg, p: p})
		s.wakeReceive()
	})
	return nil
}

// wakeReceive tells a waiting Receive that the queue has messages.
func (s *subscription) wakeReceive() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// settledOne tells a revoke waiting on p that a delivery settled.
func (s *subscription) settledOne(p *partition) {
	if p.revoked && p.unsettled == 0 {
		select {
		case s.m.settled <- struct{}{}:
		default:
		}
		if p.idle != nil {
			close(p.idle)
			p.idle = nil
		}
	}
}

// StopReceiving implements driver.Subscription: Receive hands out nothing
// more and nacks no longer queue messages again.
func (s *subscription) StopReceiving() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	s.queue.Reset()
}

// Close implements driver.Subscription: the member's consumer stops
// subscribing to the topic, which revokes its partitions and commits what
// was acked; the last subscription of a member closes its consumer, which
// commits and leaves the group.
func (s *subscription) Close(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopping, s.leaving = true, true
		s.queue.Reset()
		s.mu.Unlock()
		close(s.stop)
		s.m.topicsChanged()
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: close subscription to %q: %w", s.topic, ctx.Err())
	}
}

// stopped is why s is done: the member's consumer failed, or s closed.
func (s *subscription) stopped() error {
	if s.m.err != nil {
		return s.m.err
	}
	return driver.ErrClosed
}
