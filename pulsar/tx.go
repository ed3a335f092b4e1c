package pulsar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// Transactional subscriptions (bus.Transactional).
//
// Acks and the outputs of their handler runs queue up in the
// subscription; its committer goroutine commits them in Pulsar
// transactions, one at a time: it opens a transaction, sends the outputs
// with it on producers of the subscription's own, acknowledges the
// messages with it, and commits. Whatever is acked while one transaction
// commits goes into the next (group commit): a transaction costs a few
// round trips to the coordinator besides one per ack, so one per message
// would cut throughput several times over. Consumers see the outputs only
// once the transaction commits: the broker holds back the messages of an
// open transaction from every subscription.
//
// The broker takes each message's ack into at most one transaction, and
// keeps a message acked in an open transaction from every consumer until
// it ends: so a message's outputs commit at most once, whichever member
// ran it, and a member that lost its messages (a zombie frozen past its
// connection's keepalive) cannot commit them too. A crashed member's open
// transaction ends at txTimeout, when the coordinator aborts it and the
// broker redelivers its messages.
//
// When a transaction fails it is aborted, and the subscription restarts:
// it withdraws every message it holds, waits for their handlers, closes
// its consumer so that the broker redelivers whatever was not committed,
// in order, and subscribes again. Acks of the old consumer's messages
// commit nothing, so a key's later message never commits before an
// earlier one whose transaction failed.

// txTimeout is the timeout of each transaction: it bounds how long a
// crashed member's open transaction holds back readers of its output
// topics and its messages from the group.
const txTimeout = 10 * time.Second

// maxTxAcks bounds the acks of one transaction, and the acks waiting for
// it: AckWith waits for room beyond it. Each ack is a round trip to the
// broker, so a transaction stays well within txTimeout.
const maxTxAcks = 500

// txOpTimeout bounds each step of committing a transaction, and the wait
// for a restarting subscription's handlers.
const txOpTimeout = 30 * time.Second

// errBatchedInput reports an input message a transactional subscription
// cannot acknowledge in a transaction. pulsar-client-go (v0.19.0)
// acknowledges a message of a batch with the batch's acknowledgements so
// far, and the batch's last one as the whole batch, which the broker
// refuses as a conflict with the transactions that acknowledged the
// others.
var errBatchedInput = errors.New("pulsar-client-go cannot acknowledge a message of a batch in a transaction: publish the input with batching=false")

// SubscribeTx implements driver.Transactor on a broker that runs the
// transaction coordinator.
func (c *conn) SubscribeTx(ctx context.Context, topic string, cfg driver.SubscribeConfig) (driver.TxSubscription, error) {
	full, err := c.topic(topic)
	if err != nil {
		return nil, err
	}
	if cfg.Group == "" {
		return nil, fmt.Errorf("pulsar: subscribe to %s: a transactional subscription needs a group", full)
	}
	if _, err := c.transactions(ctx); err != nil {
		return nil, fmt.Errorf("pulsar: subscribe to %s: %w", full, err)
	}
	sub, err := c.Subscribe(ctx, topic, cfg)
	if err != nil {
		return nil, err
	}
	t := &txSubscription{
		conn:      c,
		topic:     topic,
		cfg:       cfg,
		logger:    c.logger,
		producers: newProducerCache(c.client, c.cfg, false), // outputs may be inputs of another transactional subscription
		gen:       newGeneration(sub.(*subscription)),
		kick:      make(chan struct{}, 1),
		flushes:   make(chan chan struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	t.room = sync.NewCond(&t.mu)
	go t.run()
	return t, nil
}

// transactions returns the client that opens transactions, made on first
// use. Making it connects to the broker's transaction coordinators; a
// broker without them refuses at once.
func (c *conn) transactions(ctx context.Context) (pulsar.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, driver.ErrClosed
	}
	if c.txClient != nil {
		return c.txClient, nil
	}
	opts := c.cfg.clientOptions()
	opts.Logger = clientLogger(c.logger)
	opts.EnableTransaction = true
	type result struct {
		client pulsar.Client
		err    error
	}
	made := make(chan result, 1)
	go func() {
		client, err := pulsar.NewClient(opts)
		made <- result{client, err}
	}()
	select {
	case r := <-made:
		if errors.Is(r.err, pulsar.ErrTransactionCoordinatorNotEnabled) {
			return nil, fmt.Errorf("transactions need the broker's transaction coordinator (transactionCoordinatorEnabled=true): %w", driver.ErrUnsupported)
		}
		if r.err != nil {
			return nil, fmt.Errorf("connect to the transaction coordinator: %w", mapError(r.err))
		}
		c.txClient = r.client
		return r.client, nil
	case <-ctx.Done():
		go func() {
			if r := <-made; r.client != nil {
				r.client.Close()
			}
		}()
		return nil, fmt.Errorf("connect to the transaction coordinator: %w", ctx.Err())
	}
}

// txSubscription is a driver.TxSubscription over a subscription that it
// replaces when a transaction fails.
type txSubscription struct {
	conn      *conn
	topic     string
	cfg       driver.SubscribeConfig
	logger    *slog.Logger
	producers *producerCache // for outputs; used by the committer only

	mu       sync.Mutex
	gen      *generation   // the consumer whose acks commit; nil while restarting
	restart  chan struct{} // closed when gen is set again after a restart
	acks     []txAck       // acked, not committed yet
	room     *sync.Cond    // on mu: acks went below maxTxAcks, or gen changed, or the committer stopped
	stopping bool          // StopReceiving was called
	stopped  bool          // the committer stopped: acks commit nothing

	kick    chan struct{}      // acks were queued
	flushes chan chan struct{} // closed after a commit of everything acked before
	stop    chan struct{}
	done    chan struct{}
}

// generation is one consumer of a transactional subscription and the
// deliveries it handed out.
type generation struct {
	sub       *subscription
	withdrawn chan struct{} // closed when a failed transaction ends the generation
	unsettled int           // deliveries not settled yet; guarded by txSubscription.mu
	idle      chan struct{} // once withdrawn: closed when unsettled reaches 0
}

func newGeneration(sub *subscription) *generation {
	return &generation{sub: sub, withdrawn: make(chan struct{})}
}

// txHandle is a delivery's Receipt.Handle.
type txHandle struct {
	gen *generation
	id  pulsar.MessageID
}

// txAck is an ack waiting for its transaction.
type txAck struct {
	message pulsar.ConsumerMessage
	outputs []driver.Output
}

// Receive implements driver.Subscription, from the current generation.
func (t *txSubscription) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	for {
		t.mu.Lock()
		g, restarted := t.gen, t.restart
		t.mu.Unlock()
		if g == nil {
			select {
			case <-restarted:
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-t.done:
				return 0, driver.ErrClosed
			}
		}
		n, err := g.sub.Receive(ctx, batch)
		for i := range batch[:n] {
			if id := batch[i].Handle.(pulsar.MessageID); id.BatchSize() > 1 {
				// Handed out neither this one nor those after it: the
				// broker redelivers them once the consumer closes.
				n, err = i, fmt.Errorf("pulsar: transactional subscription to %s: message %v was published in a batch of %d: %w",
					t.topic, id, id.BatchSize(), errBatchedInput)
				break
			}
		}
		t.mu.Lock()
		g.unsettled += n
		t.mu.Unlock()
		for i := range batch[:n] {
			batch[i].Handle = &txHandle{gen: g, id: batch[i].Handle.(pulsar.MessageID)}
			batch[i].Withdrawn = g.withdrawn
		}
		if n == 0 && errors.Is(err, driver.ErrClosed) && isClosed(g.withdrawn) {
			continue // the generation ended for a restart
		}
		return n, err
	}
}

// settled counts r as settled and reports whether its generation is still
// the current one; t.mu is held.
func (t *txSubscription) settled(h *txHandle) bool {
	g := h.gen
	g.unsettled--
	if g.unsettled == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	return g == t.gen
}

// AckWith implements driver.TxSubscription: the ack and its outputs are
// queued for the next transaction. An ack of a message whose generation
// ended commits nothing: the message comes again.
func (t *txSubscription) AckWith(r *driver.Receipt, outputs []driver.Output) error {
	h := r.Handle.(*txHandle)
	t.mu.Lock()
	for len(t.acks) >= maxTxAcks && h.gen == t.gen && !t.stopped {
		t.room.Wait()
	}
	if t.settled(h) && !t.stopped {
		t.acks = append(t.acks, txAck{message: r.Native.(pulsar.ConsumerMessage), outputs: outputs})
	}
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
	return nil
}

// Ack implements driver.Subscription: AckWith without outputs.
func (t *txSubscription) Ack(r *driver.Receipt) error { return t.AckWith(r, nil) }

// Nack implements driver.Subscription. A message of an ended generation is
// left to the closing of its consumer.
func (t *txSubscription) Nack(r *driver.Receipt, delay time.Duration) error {
	h := r.Handle.(*txHandle)
	t.mu.Lock()
	current := t.settled(h)
	t.mu.Unlock()
	if !current {
		return nil
	}
	native := *r
	native.Handle = h.id
	return h.gen.sub.Nack(&native, delay)
}

// StopReceiving implements driver.Subscription.
func (t *txSubscription) StopReceiving() {
	t.mu.Lock()
	t.stopping = true
	g := t.gen
	t.mu.Unlock()
	if g != nil {
		g.sub.StopReceiving()
	}
}

// Close commits what was acked, stops the committer and closes the
// consumer and the producers of the outputs. What was not committed is
// redelivered to the group.
func (t *txSubscription) Close(ctx context.Context) error {
	select {
	case <-t.stop:
		return nil // closed before
	default:
	}
	t.flush()
	close(t.stop)
	<-t.done
	t.mu.Lock()
	g := t.gen
	t.mu.Unlock()
	var err error
	if g != nil {
		err = g.sub.Close(ctx)
	}
	return errors.Join(err, t.producers.close(ctx))
}

// flush commits everything acked so far, and returns when that is done or
// failed.
func (t *txSubscription) flush() {
	done := make(chan struct{})
	select {
	case t.flushes <- done:
		<-done
	case <-t.done:
	}
}

// run is the committer.
func (t *txSubscription) run() {
	defer func() {
		t.mu.Lock()
		t.stopped = true
		t.room.Broadcast()
		t.mu.Unlock()
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
		t.commitQueued()
		for _, done := range flushed {
			close(done)
		}
		flushed = flushed[:0]
	}
}

// commitQueued commits the queued acks, maxTxAcks at a time, and restarts
// the subscription when a transaction fails.
func (t *txSubscription) commitQueued() {
	for {
		t.mu.Lock()
		g := t.gen
		n := min(len(t.acks), maxTxAcks)
		batch := t.acks[:n:n]
		t.acks = t.acks[n:]
		t.room.Broadcast()
		t.mu.Unlock()
		if n == 0 {
			return
		}
		began := time.Now()
		err := t.commit(batch)
		if err == nil {
			t.logger.Debug("pulsar: transaction committed", "messages", n, "took", time.Since(began))
			continue
		}
		t.logger.Warn("pulsar: transaction failed and aborted; the subscription restarts, and its messages will be handled again",
			"topic", t.topic, "group", t.cfg.Group, "err", err)
		t.restartAfterAbort(g)
		return
	}
}

// commit sends the outputs of batch and acknowledges its messages in one
// transaction, and commits it; on failure it aborts it.
func (t *txSubscription) commit(batch []txAck) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), txOpTimeout)
	defer cancel()
	txn, err := t.conn.txClient.NewTransaction(txTimeout)
	if err != nil {
		return fmt.Errorf("new transaction: %w", mapError(err))
	}
	defer func() {
		if err != nil {
			// The coordinator aborts it at txTimeout if this fails.
			if abortErr := txn.Abort(ctx); abortErr != nil {
				t.logger.Debug("pulsar: cannot abort the failed transaction; it ends at its timeout", "err", abortErr)
			}
		}
	}()
	if err := t.send(ctx, txn, batch); err != nil {
		return err
	}
	for _, a := range batch {
		if err := a.message.Consumer.AckWithTxn(a.message.Message, txn); err != nil {
			return fmt.Errorf("ack %v in the transaction: %w", a.message.ID(), mapError(err))
		}
	}
	if err := txn.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", mapError(err))
	}
	return nil
}

// send sends the outputs of batch with txn and waits until the broker has
// them all.
func (t *txSubscription) send(ctx context.Context, txn pulsar.Transaction, batch []txAck) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		flush = make(map[*producerEntry]bool)
	)
	for _, a := range batch {
		err := driver.EachTopic(a.outputs, func(topic string, msgs []driver.Message) error {
			full, err := t.conn.topic(topic)
			if err != nil {
				return err
			}
			e, err := t.producers.get(ctx, full)
			if err != nil {
				return fmt.Errorf("pulsar: publish to %s: %w", full, err)
			}
			flush[e] = true
			for i := range msgs {
				pm, err := t.conn.producerMessage(full, &msgs[i])
				if err != nil {
					return err
				}
				pm.Transaction = txn
				wg.Add(1)
				e.pending.Add(1)
				e.producer.SendAsync(ctx, pm, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
					defer wg.Done()
					e.pending.Add(-1)
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("pulsar: publish to %s: %w", full, mapError(err)))
						mu.Unlock()
					}
				})
			}
			return nil
		})
		if err != nil {
			wg.Wait()
			return err
		}
	}
	// Batches go out now rather than after the batching delay.
	for e := range flush {
		if err := e.producer.FlushWithCtx(ctx); err != nil {
			wg.Wait()
			return fmt.Errorf("pulsar: flush producer of %s: %w", e.producer.Topic(), err)
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// restartAfterAbort ends generation g: its messages are withdrawn, acks
// still queued are dropped, and once its handlers are done (at most
// txOpTimeout) its consumer closes, so that the broker redelivers what it
// did not commit. Then the subscription subscribes anew.
func (t *txSubscription) restartAfterAbort(g *generation) {
	t.mu.Lock()
	t.gen = nil
	t.restart = make(chan struct{})
	t.acks = nil
	t.room.Broadcast()
	close(g.withdrawn)
	idle := make(chan struct{})
	if g.unsettled == 0 {
		close(idle)
	} else {
		g.idle = idle
	}
	t.mu.Unlock()

	wait := time.NewTimer(txOpTimeout)
	select {
	case <-idle:
	case <-wait.C:
		t.logger.Warn("pulsar: handlers of a failed transaction's messages still running after 30s; restarting the subscription anyway",
			"topic", t.topic, "group", t.cfg.Group)
	case <-t.stop:
	}
	wait.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), txOpTimeout)
	if err := g.sub.Close(ctx); err != nil {
		t.logger.Warn("pulsar: cannot close the consumer of a failed transaction", "err", err)
	}
	cancel()
	for {
		select {
		case <-t.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), txOpTimeout)
		sub, err := t.conn.Subscribe(ctx, t.topic, t.cfg)
		cancel()
		if err == nil {
			t.mu.Lock()
			t.gen = newGeneration(sub.(*subscription))
			if t.stopping {
				t.gen.sub.StopReceiving()
			}
			close(t.restart)
			t.mu.Unlock()
			return
		}
		t.logger.Warn("pulsar: cannot subscribe again after a failed transaction; trying again", "topic", t.topic, "err", err)
		select {
		case <-time.After(time.Second):
		case <-t.stop:
			return
		}
	}
}
