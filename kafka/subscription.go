package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/google/uuid"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// subscription is one consumer. A single goroutine (poll) owns the
// consumer: it polls, serves rebalances, stores offsets, pauses and seeks.
// Receive, Ack and Nack only touch the state below under mu.
type subscription struct {
	conn      *conn
	topic     string
	ephemeral bool // no group: assigned by hand, commits nothing
	consumer  *kafka.Consumer
	logger    *slog.Logger
	limit     int // buffered messages at which partitions are paused

	mu      sync.Mutex
	parts   map[int32]*partition // the current assignment
	queue   []polled             // polled, not yet handed to bus
	closing bool

	wake    chan struct{} // a message was queued
	drained chan struct{} // the queue went below its limit
	settled chan struct{} // a revoked partition's last delivery settled
	stop    chan struct{} // Close asks poll to return
	done    chan struct{} // poll returned
	err     error         // why poll gave up; set before done closes
	logs    sync.WaitGroup

	stopOnce sync.Once
}

type polled struct {
	msg *kafka.Message
	p   *partition
}

// Subscribe implements driver.Conn. With a group it joins the group with
// cooperative-sticky assignment; without one it assigns itself every
// partition at its end offset and commits nothing.
func (c *conn) Subscribe(ctx context.Context, topic string, cfg driver.SubscribeConfig) (driver.Subscription, error) {
	if c.closed.Load() {
		return nil, driver.ErrClosed
	}
	if len(cfg.Options) > 0 {
		return nil, fmt.Errorf("kafka: subscribe to %q: unknown driver option %T", topic, cfg.Options[0])
	}
	if err := c.ensureTopic(ctx, topic); err != nil {
		return nil, err
	}
	group, ephemeral := cfg.Group, cfg.Group == ""
	if ephemeral {
		group = "eventbus-ephemeral-" + uuid.NewString()
	}
	consumer, err := kafka.NewConsumer(c.cfg.consumerConfig(group, ephemeral))
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
	if ephemeral {
		err = s.assignAtEnd(ctx)
	} else {
		err = consumer.Subscribe(topic, s.rebalance)
	}
	if err != nil {
		_ = consumer.Close()
		s.logs.Wait()
		return nil, fmt.Errorf("kafka: subscribe to %q: %w", topic, err)
	}
	go s.poll()
	return s, nil
}

// assignAtEnd assigns every partition of the topic at its current end, so
// an ephemeral subscription sees exactly what is published after Subscribe.
func (s *subscription) assignAtEnd(ctx context.Context) error {
	md, err := s.conn.metadata(ctx, &s.topic)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	specs := make(map[kafka.TopicPartition]kafka.OffsetSpec)
	for _, p := range md.Topics[s.topic].Partitions {
		specs[kafka.TopicPartition{Topic: &s.topic, Partition: p.ID}] = kafka.LatestOffsetSpec
	}
	res, err := s.conn.admin.ListOffsets(ctx, specs)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	tps := make([]kafka.TopicPartition, 0, len(res.ResultInfos))
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("end offset of partition %d: %w", tp.Partition, info.Error)
		}
		tps = append(tps, kafka.TopicPartition{Topic: &s.topic, Partition: tp.Partition, Offset: info.Offset})
	}
	s.assigned(tps)
	return s.consumer.Assign(tps)
}

// rebalance serves the group's assignment changes inside Poll.
func (s *subscription) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		s.assigned(e.Partitions)
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			s.logger.Error("kafka: cannot take assigned partitions", "partitions", ids(e.Partitions), "err", err)
		}
	case kafka.RevokedPartitions:
		s.revoke(e.Partitions, c.AssignmentLost())
		if err := c.IncrementalUnassign(e.Partitions); err != nil {
			s.logger.Error("kafka: cannot release revoked partitions", "partitions", ids(e.Partitions), "err", err)
		}
	}
	return nil
}

func (s *subscription) assigned(tps []kafka.TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range tps {
		s.parts[tp.Partition] = newPartition(tp.Partition)
	}
	s.logger.Debug("kafka: partitions assigned", "partitions", ids(tps))
}

// revoke withdraws partitions: bus drops their queued messages, in-flight
// handlers get up to revoke_timeout to finish, and the contiguous acked run
// is committed, unless the assignment was lost to another member already.
func (s *subscription) revoke(tps []kafka.TopicPartition, lost bool) {
	s.mu.Lock()
	revoked := make([]*partition, 0, len(tps))
	for _, tp := range tps {
		if p := s.parts[tp.Partition]; p != nil {
			p.revoked = true
			close(p.withdrawn)
			revoked = append(revoked, p)
			delete(s.parts, tp.Partition)
		}
	}
	s.dropQueued(func(p *partition) bool { return p.revoked })
	wait := !lost && !s.closing
	s.mu.Unlock()

	if wait {
		deadline := time.NewTimer(s.conn.cfg.revokeTimeout)
		defer deadline.Stop()
	waiting:
		for !s.allSettled(revoked) {
			select {
			case <-s.settled:
			case <-deadline.C:
				s.logger.Warn("kafka: handlers of revoked partitions still running at revoke_timeout; their messages will be redelivered",
					"partitions", ids(tps), "revoke_timeout", s.conn.cfg.revokeTimeout)
				break waiting
			}
		}
	}

	s.mu.Lock()
	var commit []kafka.TopicPartition
	for _, p := range revoked {
		p.gone = true
		if p.store > p.committed {
			commit = append(commit, kafka.TopicPartition{Topic: &s.topic, Partition: p.id, Offset: kafka.Offset(p.store)})
		}
	}
	s.mu.Unlock()
	if lost {
		s.logger.Warn("kafka: partitions lost to another member; not committing", "partitions", ids(tps))
		return
	}
	if s.ephemeral || len(commit) == 0 {
		return
	}
	// Store too: librdkafka commits its stored offsets of revoked
	// partitions on unassign, and an older one would undo this commit.
	if _, err := s.consumer.StoreOffsets(commit); err != nil {
		s.logger.Debug("kafka: store offsets on revoke", "partitions", ids(commit), "err", err)
	}
	if _, err := s.consumer.CommitOffsets(commit); err != nil {
		s.logger.Warn("kafka: commit on revoke failed; messages after the last commit will be redelivered", "partitions", ids(commit), "err", err)
	}
	s.logger.Debug("kafka: partitions revoked and committed", "partitions", ids(tps))
}

func (s *subscription) allSettled(ps []*partition) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		if p.unsettled > 0 {
			return false
		}
	}
	return true
}

// dropQueued removes the queued messages of the partitions drop selects.
// Callers hold mu.
func (s *subscription) dropQueued(drop func(*partition) bool) {
	s.queue = slices.DeleteFunc(s.queue, func(q polled) bool { return drop(q.p) })
}

// poll is the consumer's goroutine.
func (s *subscription) poll() {
	defer close(s.done)
	lastMaintain := time.Now()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	for {
		select {
		case <-s.stop:
			s.close()
			return
		default:
		}
		if s.backlogged() {
			// Leave messages in librdkafka's bounded queue until bus
			// catches up, but still poll now and then for rebalances.
			idle.Reset(50 * time.Millisecond)
			select {
			case <-s.drained:
			case <-idle.C:
			case <-s.stop:
			}
			idle.Stop()
		}
		switch e := s.consumer.Poll(100).(type) {
		case *kafka.Message:
			s.accept(e)
		case kafka.Error:
			if e.IsFatal() {
				s.err = fmt.Errorf("kafka: consume %q: %w", s.topic, e)
				s.logger.Error("kafka: fatal consumer error", "err", e)
				s.close()
				return
			}
			s.logger.Debug("kafka: consumer error", "err", e)
		case nil:
			lastMaintain = time.Time{}
		}
		if now := time.Now(); now.Sub(lastMaintain) >= 10*time.Millisecond {
			s.maintain(now)
			lastMaintain = now
		}
	}
}

func (s *subscription) backlogged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) >= s.limit
}

// accept queues a polled message unless its partition is gone, rewinding,
// or already past it (librdkafka refetches after a pause).
func (s *subscription) accept(m *kafka.Message) {
	if m.TopicPartition.Error != nil {
		s.logger.Warn("kafka: consume error", "partition", m.TopicPartition.Partition, "err", m.TopicPartition.Error)
		return
	}
	offset := int64(m.TopicPartition.Offset)
	s.mu.Lock()
	p := s.parts[m.TopicPartition.Partition]
	if p == nil || p.rewindTo >= 0 || offset < p.next {
		s.mu.Unlock()
		return
	}
	p.next = offset + 1
	s.queue = append(s.queue, polled{msg: m, p: p})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maintain stores acked offsets, pauses partitions while the queue is full
// and resumes them once it has drained, and carries out due rewinds.
func (s *subscription) maintain(now time.Time) {
	var store, pause, resume, seek []kafka.TopicPartition
	s.mu.Lock()
	// Pausing discards what librdkafka prefetched, so it is the last
	// resort, for a queue that grew past twice its limit one rebalance
	// poll at a time.
	full, low := len(s.queue) >= 2*s.limit, len(s.queue) <= s.limit
	for _, p := range s.parts {
		tp := kafka.TopicPartition{Topic: &s.topic, Partition: p.id}
		if !s.ephemeral && p.store > p.stored {
			p.stored = p.store
			store = append(store, kafka.TopicPartition{Topic: &s.topic, Partition: p.id, Offset: kafka.Offset(p.store)})
		}
		switch {
		case p.rewindTo >= 0 && !p.paused:
			pause, p.paused = append(pause, tp), true
		case p.rewindTo >= 0 && !full && !now.Before(p.rewindAt):
			tp.Offset = kafka.Offset(p.rewindTo)
			seek = append(seek, tp)
			resume = append(resume, tp)
			p.next, p.rewindTo, p.paused = p.rewindTo, -1, false
		case p.rewindTo >= 0:
		case full && !p.paused:
			pause, p.paused = append(pause, tp), true
		case low && p.paused:
			resume, p.paused = append(resume, tp), false
		}
	}
	s.mu.Unlock()
	if len(store) > 0 {
		if _, err := s.consumer.StoreOffsets(store); err != nil {
			s.logger.Debug("kafka: store offsets", "partitions", ids(store), "err", err)
		}
	}
	if len(pause) > 0 {
		if err := s.consumer.Pause(pause); err != nil {
			s.logger.Warn("kafka: pause", "partitions", ids(pause), "err", err)
		}
	}
	if len(resume) > 0 {
		if err := s.consumer.Resume(resume); err != nil {
			s.logger.Warn("kafka: resume", "partitions", ids(resume), "err", err)
		}
	}
	for _, tp := range seek {
		// Seeking after Resume: librdkafka's version barrier discards
		// what was fetched from the old position.
		if err := s.consumer.Seek(tp, 0); err != nil {
			s.logger.Error("kafka: rewind failed; the partition will be redelivered from its last commit after the next rebalance",
				"partition", tp.Partition, "offset", tp.Offset, "err", err)
		}
	}
}

// Receive implements driver.Subscription.
func (s *subscription) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	for {
		s.mu.Lock()
		n := min(len(batch), len(s.queue))
		for i := range n {
			s.deliver(&batch[i], s.queue[i])
		}
		clear(s.queue[:n])
		s.queue = s.queue[n:]
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

// deliver fills d from q and starts tracking its offset. Callers hold mu.
func (s *subscription) deliver(d *driver.Delivery, q polled) {
	m, p := q.msg, q.p
	offset := int64(m.TopicPartition.Offset)
	*d = driver.Delivery{
		Message: driver.Message{Key: string(m.Key), Payload: m.Value, Time: m.Timestamp},
		Receipt: driver.Receipt{
			Attempt:   1 + p.redelivered[offset],
			Partition: p.id,
			Offset:    offset,
			Withdrawn: p.withdrawn,
			Handle:    &handle{p: p, offset: offset, gen: p.gen},
			Native:    m,
		},
	}
	for _, h := range m.Headers {
		driver.DecodeHeader(&d.Message, h.Key, string(h.Value))
	}
	setPositionID(&d.Message, m)
	p.track(offset)
}

// Ack implements driver.Subscription: the offset counts toward the
// partition's contiguous acked run, which poll stores for commit.
func (s *subscription) Ack(r *driver.Receipt) error {
	h := r.Handle.(*handle)
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.p.settle(h, true) {
		s.settledOne(h.p)
	}
	return nil
}

// Nack implements driver.Subscription: the partition rewinds to its
// oldest unacked offset after delay, while other partitions keep flowing.
func (s *subscription) Nack(r *driver.Receipt, delay time.Duration) error {
	h := r.Handle.(*handle)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := h.p
	if !p.settle(h, false) {
		return nil
	}
	s.settledOne(p)
	if p.revoked || s.closing {
		return nil
	}
	p.rewind(time.Now().Add(delay))
	s.dropQueued(func(q *partition) bool { return q == p })
	s.logger.Debug("kafka: partition will rewind", "partition", p.id, "offset", p.rewindTo, "nacked_offset", h.offset, "in", delay)
	return nil
}

// settledOne tells a revoke waiting on p that a delivery settled.
func (s *subscription) settledOne(p *partition) {
	if p.revoked && p.unsettled == 0 {
		select {
		case s.settled <- struct{}{}:
		default:
		}
	}
}

// Close implements driver.Subscription; see close.
func (s *subscription) Close(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
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

// close runs on the poll goroutine: it stores what was acked, and closing
// the consumer revokes its partitions, which commits them.
func (s *subscription) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.maintain(time.Now())
	if !s.ephemeral {
		// Commit while still a stable member: the revoke that Close runs
		// may meet a rebalance the coordinator has begun.
		if _, err := s.consumer.Commit(); err == nil {
			s.mu.Lock()
			for _, p := range s.parts {
				p.committed = p.stored
			}
			s.mu.Unlock()
		} else if !isNoOffset(err) {
			s.logger.Warn("kafka: commit on close failed; messages after the last commit will be redelivered", "err", err)
		}
	}
	if err := s.consumer.Close(); err != nil {
		s.logger.Warn("kafka: close consumer", "err", err)
	}
	s.mu.Lock()
	for _, p := range s.parts {
		p.gone = true
	}
	s.mu.Unlock()
}

func isNoOffset(err error) bool {
	var kerr kafka.Error
	return errors.As(err, &kerr) && kerr.Code() == kafka.ErrNoOffset
}

func ids(tps []kafka.TopicPartition) []int32 {
	out := make([]int32, len(tps))
	for i, tp := range tps {
		out[i] = tp.Partition
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
