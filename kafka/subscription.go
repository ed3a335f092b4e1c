package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// subscription is one consumer: one topic, one group member.
//
// The code is split by concern: this file is what package bus calls
// (Receive, Ack, Nack, StopReceiving, Close); group.go is membership and
// rebalances; poll.go is the goroutine that owns the consumer; partition.go
// holds each partition's offsets. Only the poll goroutine touches the
// consumer; everything else meets it in the state below, under mu.
type subscription struct {
	conn      *conn
	topic     string
	ephemeral bool // no group: assigned by hand, commits nothing
	consumer  *kafka.Consumer
	logger    *slog.Logger
	limit     int // buffered messages at which partitions are paused

	mu       sync.Mutex
	parts    map[int32]*partition // the current assignment
	queue    []polled             // polled or due again, not yet handed to bus
	stopping bool                 // StopReceiving was called: nothing more is handed out

	wake    chan struct{} // a message was queued
	drained chan struct{} // the queue went below its limit
	settled chan struct{} // a revoked partition's last delivery settled
	stop    chan struct{} // Close asks poll to return
	done    chan struct{} // poll returned
	err     error         // why poll gave up; set before done closes
	logs    sync.WaitGroup

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

// subscribe makes a subscription, transactional (see tx.go) or not.
func (c *conn) subscribe(ctx context.Context, topic string, cfg driver.SubscribeConfig, transactional bool) (*subscription, error) {
	if c.closed.IsClosed() {
		return nil, driver.ErrClosed
	}
	if len(cfg.Options) > 0 {
		return nil, fmt.Errorf("kafka: subscribe to %q: %w", topic, driver.UnknownOption(cfg.Options[0]))
	}
	if err := c.ensureTopic(ctx, topic); err != nil {
		return nil, err
	}
	group, ephemeral := cfg.Group, cfg.Group == ""
	if ephemeral {
		group = driver.EphemeralGroup()
	}
	protocol := "classic"
	if !ephemeral {
		protocol = c.chooseGroupProtocol(ctx)
	}
	consumerConfig := c.cfg.consumerConfig(group, protocol, ephemeral)
	if transactional {
		// Offsets are committed only in transactions.
		(*consumerConfig)["enable.auto.commit"] = false
	}
	consumer, err := kafka.NewConsumer(consumerConfig)
	if err != nil {
		return nil, fmt.Errorf("kafka: subscribe to %q: new consumer: %w", topic, err)
	}
	s := &subscription{
		conn:      c,
		topic:     topic,
		ephemeral: ephemeral,
		consumer:  consumer,
		logger:    c.logger.With("topic", topic, "group", cfg.Group),
		limit:     c.cfg.receiveBuffer,
		parts:     make(map[int32]*partition),
		wake:      make(chan struct{}, 1),
		drained:   make(chan struct{}, 1),
		settled:   make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	s.logs.Go(func() { forwardLogs(s.logger, consumer.Logs()) })
	if transactional {
		if s.tx, err = newTransactor(ctx, s, group); err != nil {
			_ = consumer.Close()
			s.logs.Wait()
			return nil, fmt.Errorf("kafka: subscribe to %q: %w", topic, err)
		}
	}
	if ephemeral {
		err = s.assignAtEnd(ctx)
	} else {
		err = consumer.Subscribe(topic, s.rebalance)
	}
	if err != nil {
		_ = consumer.Close()
		if s.tx != nil {
			s.tx.close()
		}
		s.logs.Wait()
		return nil, fmt.Errorf("kafka: subscribe to %q: %w", topic, err)
	}
	go s.poll()
	return s, nil
}

// Receive implements driver.Subscription.
func (s *subscription) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	for {
		s.mu.Lock()
		n := 0
		if !s.stopping {
			n = min(len(batch), len(s.queue))
			for i := range n {
				s.deliver(&batch[i], s.queue[i])
			}
			clear(s.queue[:n])
			s.queue = s.queue[n:]
		}
		below := len(s.queue) < s.limit
		s.mu.Unlock()
		if n > 0 {
			if below {
				select {
				case s.drained <- struct{}{}:
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
			if s.err != nil {
				return 0, s.err
			}
			return 0, driver.ErrClosed
		}
	}
}

// deliver fills d from q. Callers hold mu.
func (s *subscription) deliver(d *driver.Delivery, q polled) {
	m, p := q.msg, q.p
	offset := int64(m.TopicPartition.Offset)
	*d = driver.Delivery{
		Message: messageOf(m),
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
		driver.DecodeHeader(&msg, h.Key, string(h.Value))
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
		s.queue = append(s.queue, polled{msg: msg, p: p})
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
		case s.settled <- struct{}{}:
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
	s.queue = nil
}

// Close implements driver.Subscription: poll stores what was acked and
// closes the consumer, which commits, leaves the group and returns.
func (s *subscription) Close(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.StopReceiving()
		close(s.stop)
	})
	select {
	case <-s.done:
		s.logs.Wait()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: close subscription to %q: %w", s.topic, ctx.Err())
	}
}
