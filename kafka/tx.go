package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/google/uuid"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Transactional subscriptions (bus.Transactional).
//
// Each has its own transactional producer. Acks and the outputs of their
// handler runs queue up in the transactor; its goroutine commits them in
// Kafka transactions, one at a time: the outputs of every acked message,
// and the partitions' offsets (the acked prefix, with the acked offsets
// beyond it in the commit metadata, as without transactions) through
// SendOffsetsToTransaction with the consumer's group metadata, so that a
// member that lost its partitions cannot commit (KIP-447). Whatever is
// acked while one transaction commits goes into the next (group commit).
//
// An acked message's outputs need not wait for the offsets before it: its
// offset is committed in the metadata until the prefix reaches it. Only
// offsets that no longer fit in the metadata wait for the prefix.
//
// When a transaction fails it is aborted, and each partition in it is
// withdrawn and replaced by a new one that restarts at the group's commit,
// once the old one's handlers have finished (so that a key's messages are
// never run by the two at once).

// txTimeout is the transaction.timeout.ms of the transactional producers:
// it bounds how long a crashed member's open transaction holds back
// read_committed readers of its outputs, and the group's commit from the
// partitions' next owner.
const txTimeout = 10 * time.Second

// maxTxAcks bounds the acks waiting for a transaction: AckWith waits for
// room beyond it, so that one transaction stays well within txTimeout
// however fast messages are handled.
const maxTxAcks = 10000

// txOpTimeout bounds each transactional call to the brokers.
const txOpTimeout = 30 * time.Second

// SubscribeTx implements driver.Transactor.
func (c *conn) SubscribeTx(ctx context.Context, topic string, cfg driver.SubscribeConfig) (driver.TxSubscription, error) {
	if cfg.Group == "" {
		return nil, fmt.Errorf("kafka: subscribe to %q: a transactional subscription needs a group", topic)
	}
	return c.subscribe(ctx, topic, cfg, true)
}

// transactor commits a transactional subscription's acks with their
// outputs.
type transactor struct {
	s      *subscription
	group  string
	logger *slog.Logger

	acks    []txAck    // acked, not committed yet; guarded by s.mu
	room    *sync.Cond // on s.mu: acks went below maxTxAcks, or the transactor stopped
	stopped bool       // guarded by s.mu

	producer *kafka.Producer // used by run only, after newTransactor
	logs     sync.WaitGroup

	kick    chan struct{}      // acks were queued
	flushes chan chan struct{} // closed after a commit of everything acked before
	stop    chan struct{}
	done    chan struct{}
}

// txAck is an ack waiting for its transaction.
type txAck struct {
	p       *partition
	offset  int64
	outputs []driver.Output
}

func newTransactor(ctx context.Context, s *subscription, group string) (*transactor, error) {
	t := &transactor{
		s:       s,
		group:   group,
		logger:  s.logger,
		kick:    make(chan struct{}, 1),
		flushes: make(chan chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		room:    sync.NewCond(s.mu),
	}
	if err := t.newProducer(ctx); err != nil {
		return nil, err
	}
	go t.run()
	return t, nil
}

// newProducer makes a transactional producer with a transactional.id of
// its own: members are fenced by the group's generation, not by the id.
func (t *transactor) newProducer(ctx context.Context) error {
	cfg := t.s.conn.cfg.transactionalProducerConfig()
	(*cfg)["transactional.id"] = "eventbus-" + t.group + "-" + uuid.NewString()
	(*cfg)["transaction.timeout.ms"] = int(txTimeout.Milliseconds())
	(*cfg)["message.timeout.ms"] = int(txTimeout.Milliseconds()) // librdkafka: at most the transaction timeout
	(*cfg)["go.delivery.reports"] = false                        // CommitTransaction fails if a message did
	producer, err := kafka.NewProducer(cfg)
	if err != nil {
		return fmt.Errorf("new transactional producer: %w", err)
	}
	t.logs.Go(func() { forwardLogs(t.logger, producer.Logs()) })
	t.logs.Go(func() {
		for ev := range producer.Events() {
			t.logger.Debug("kafka: transactional producer event", "event", ev.String())
		}
	})
	if err := producer.InitTransactions(ctx); err != nil {
		producer.Close()
		return fmt.Errorf("init transactions: %w", err)
	}
	t.producer = producer
	return nil
}

// AckWith implements driver.TxSubscription: the ack and its outputs are
// queued for the next transaction. An ack of a partition that is gone or
// whose transaction aborted commits nothing: the message comes again.
func (s *subscription) AckWith(r *driver.Receipt, outputs []driver.Output) error {
	p, offset := delivered(r)
	s.mu.Lock()
	for len(s.tx.acks) >= maxTxAcks && !s.tx.stopped {
		s.tx.room.Wait()
	}
	if p.settle(offset, true) {
		s.settledOne(p)
		if !p.aborted {
			s.tx.acks = append(s.tx.acks, txAck{p: p, offset: offset, outputs: outputs})
		}
	}
	s.mu.Unlock()
	select {
	case s.tx.kick <- struct{}{}:
	default:
	}
	return nil
}

// flush commits everything acked so far, and returns when that is done or
// failed.
func (t *transactor) flush() {
	done := make(chan struct{})
	select {
	case t.flushes <- done:
		<-done
	case <-t.done:
	}
}

// close stops committing, once the consumer is closed, and closes the
// producer. What was not committed is redelivered to the group.
func (t *transactor) close() {
	close(t.stop)
	<-t.done
	if t.producer != nil {
		t.producer.Close()
	}
	t.logs.Wait()
}

func (t *transactor) run() {
	defer func() {
		t.s.mu.Lock()
		t.stopped = true
		t.room.Broadcast()
		t.s.mu.Unlock()
		close(t.done)
	}()
	var flushed []chan struct{}
	for {
		select {
		case <-t.kick:
		case done := <-t.flushes:
			flushed = append(flushed, done)
		case <-t.stop:
			return
		}
		// Flushes that arrived meanwhile join this commit.
	collect:
		for {
			select {
			case done := <-t.flushes:
				flushed = append(flushed, done)
			default:
				break collect
			}
		}
		t.commitNext()
		for _, done := range flushed {
			close(done)
		}
		flushed = flushed[:0]
	}
}

// commitNext commits, in one transaction, the acks queued so far whose
// offsets the commit can carry.
func (t *transactor) commitNext() {
	s := t.s
	s.mu.Lock()
	uncovered := make(map[*partition]int64)
	var offsets []kafka.TopicPartition
	var batch, later []txAck
	for _, a := range t.acks {
		if a.p.gone || a.p.aborted {
			continue
		}
		limit, seen := uncovered[a.p]
		if !seen {
			var metadata string
			metadata, limit = a.p.commitMetadata()
			uncovered[a.p] = limit
			offsets = append(offsets, kafka.TopicPartition{Topic: &s.topic, Partition: a.p.id,
				Offset: kafka.Offset(a.p.store), Metadata: &metadata})
		}
		if a.offset >= limit {
			later = append(later, a) // waits for the acked prefix to reach it
		} else {
			batch = append(batch, a)
		}
	}
	t.acks = later
	t.room.Broadcast()
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}

	began := time.Now()
	err := t.commit(batch, offsets)
	if err == nil {
		t.logger.Debug("kafka: transaction committed", "messages", len(batch), "partitions", len(offsets), "took", time.Since(began))
		return
	}
	parts := make(map[*partition]bool)
	for _, a := range batch {
		parts[a.p] = true
	}
	t.logger.Warn("kafka: transaction failed and aborted; its messages will be handled again", "err", err)
	t.abort(err)
	s.restart(parts)
}

// commit produces the outputs of batch and commits them with offsets in
// one transaction.
func (t *transactor) commit(batch []txAck, offsets []kafka.TopicPartition) error {
	if t.producer == nil {
		ctx, cancel := context.WithTimeout(context.Background(), txOpTimeout)
		err := t.newProducer(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	if err := t.producer.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	for _, a := range batch {
		if err := t.produce(a.outputs); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), txOpTimeout)
	defer cancel()
	group, err := t.s.m.consumer.GetConsumerGroupMetadata()
	if err != nil {
		return fmt.Errorf("group metadata: %w", err)
	}
	if err := retryTx(ctx, func() error { return t.producer.SendOffsetsToTransaction(ctx, offsets, group) }); err != nil {
		return fmt.Errorf("send offsets to transaction: %w", err)
	}
	if err := retryTx(ctx, func() error { return t.producer.CommitTransaction(ctx) }); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// produce adds outputs to the open transaction.
func (t *transactor) produce(outputs []driver.Output) error {
	return driver.EachTopic(outputs, func(topic string, msgs []driver.Message) error {
		records := newRecords(topic, msgs)
		for i := range records {
			records[i].Opaque = nil // no delivery reports to match
			for {
				err := t.producer.Produce(&records[i], nil)
				if err == nil {
					break
				}
				var kerr kafka.Error
				if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull {
					return fmt.Errorf("produce to %q: %w", topic, wrapKafkaError(err))
				}
				t.producer.Flush(10) // wait for room
			}
		}
		return nil
	})
}

// retryTx repeats a transactional call as long as it fails with a
// retriable error and ctx allows.
func retryTx(ctx context.Context, call func() error) error {
	for {
		err := call()
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || !kerr.IsRetriable() || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// abort ends the failed transaction; a producer that cannot go on (a fatal
// error) is replaced before the next one.
func (t *transactor) abort(cause error) {
	if t.producer == nil {
		return // it could not be made: no transaction began
	}
	var kerr kafka.Error
	if !errors.As(cause, &kerr) || !kerr.IsFatal() {
		ctx, cancel := context.WithTimeout(context.Background(), txOpTimeout)
		err := t.producer.AbortTransaction(ctx)
		cancel()
		if err == nil {
			return
		}
		t.logger.Warn("kafka: cannot abort the transaction; replacing the producer (the broker aborts the transaction at its timeout)", "err", err)
	}
	t.producer.Close()
	t.producer = nil
}

// restart withdraws the partitions whose transaction aborted: bus gives
// back what it holds of them, and each is replaced by a partition that,
// once the old one's handlers are done, seeks to the group's commit.
// Partitions already revoked are left to their next owner.
func (s *subscription) restart(parts map[*partition]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for old := range parts {
		old.aborted = true
		if s.parts[old.id] != old || s.stopping {
			continue
		}
		old.revoked = true
		close(old.withdrawn)
		idle := make(chan struct{})
		if old.unsettled == 0 {
			close(idle)
		} else {
			old.idle = idle
		}
		p := newPartition(old.id)
		p.loading, p.restarting = true, true
		s.parts[old.id] = p
		go s.restartAtCommit(p, idle)
	}
	s.queue.DeleteFunc(func(q polled) bool { return q.p.aborted })
}

// restartAtCommit waits for the replaced partition's handlers (at most
// revoke_timeout), reads the group's commit of p and lets poll seek there.
func (s *subscription) restartAtCommit(p *partition, idle <-chan struct{}) {
	wait := time.NewTimer(s.conn.cfg.revokeTimeout)
	select {
	case <-idle:
	case <-wait.C:
		s.logger.Warn("kafka: handlers of an aborted transaction's partition still running at revoke_timeout", "partition", p.id)
	}
	wait.Stop()
	tp := []kafka.TopicPartition{{Topic: &s.topic, Partition: p.id}}
	for {
		committed, err := s.m.committedOffsets(tp)
		s.mu.Lock()
		if s.parts[p.id] != p || s.stopping {
			s.mu.Unlock()
			return
		}
		if err == nil && len(committed) == 1 {
			c := committed[0]
			p.seekTo = int64(kafka.OffsetBeginning) // auto.offset.reset=earliest
			if c.Offset >= 0 {
				p.seekTo = int64(c.Offset)
				if c.Metadata != nil {
					p.resume(int64(c.Offset), *c.Metadata)
				}
			}
			p.loading = false // poll seeks and resumes it
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.logger.Warn("kafka: cannot read the group's commit to restart an aborted partition; trying again", "partition", p.id, "err", err)
		select {
		case <-time.After(time.Second):
		case <-s.stop:
			return
		}
	}
}

// revokeTx ends a transactional subscription's hold on revoked partitions:
// what was acked is committed first, unless they were lost already, and
// nothing of theirs is committed afterwards.
func (s *subscription) revokeTx(revoked []*partition, lost bool) {
	if lost {
		s.logger.Warn("kafka: partitions lost to another member; not committing", "partitions", partitionIDs(revoked))
	} else {
		s.tx.flush()
	}
	s.mu.Lock()
	for _, p := range revoked {
		p.gone = true
	}
	s.mu.Unlock()
}
