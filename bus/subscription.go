package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Subscription is a running Subscribe: it fetches messages, dispatches them
// to the handler with per-key ordering, applies the error policy and settles
// each message with the backend. Stop it with Close or by cancelling the
// context given to Subscribe.
type Subscription struct {
	bus             *Bus
	topic           string
	cfg             subscribeConfig
	deadLetterTopic string
	driverSub       driver.Subscription
	handler         Handler
	logger          *slog.Logger
	tel             *subscriptionTelemetry // spans, metrics, lag

	// handlerCtx carries the Subscribe context's values to handlers; it is
	// cancelled only when the shutdown deadline passes.
	handlerCtx     context.Context
	cancelHandlers context.CancelFunc
	stopReceiving  context.CancelFunc
	receiving      chan struct{} // closed when the receive loop has returned

	mu       sync.Mutex
	stopping bool
	keys     map[string]*keyQueue   // keyed queues with messages in flight
	backoff  map[*keyQueue]struct{} // queues waiting out a retry backoff
	ready    chan *keyQueue         // queues whose head message may run
	slots    chan struct{}          // one per message in flight, bounds fetching
	workers  sync.WaitGroup

	closeOnce sync.Once
	done      chan struct{}
	closeErr  error
	err       error // why the subscription ended on its own, if it did
}

// keyQueue holds the in-flight messages of one key in arrival order. Its
// head is the one running or waiting to retry; the rest wait behind it.
// Messages without a key each get a queue of their own.
type keyQueue struct {
	key  string
	msgs []*Message

	// The head's failures so far.
	failures     int
	firstFailure time.Time
	lastErr      error
	timer        *time.Timer
	retried      chan struct{} // closed when a backoff watched for withdrawal ends
}

var keyQueues = sync.Pool{New: func() any { return new(keyQueue) }}

// Subscribe starts handling the messages of topic with h and returns at
// once; messages are handled in the background until Close, the bus's
// Close, or ctx is cancelled (which drains in-flight handlers for up to
// DrainTimeout). See the SubscribeOption functions for the choices.
func (b *Bus) Subscribe(ctx context.Context, topic string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	if topic == "" {
		return nil, fmt.Errorf("%w: subscribe: topic is empty", ErrInvalidTopic)
	}
	if h == nil {
		return nil, fmt.Errorf("eventbus: subscribe to %q: handler is nil", topic)
	}
	cfg := defaultSubscribeConfig()
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, err)
		}
	}
	if cfg.maxInFlight == 0 {
		cfg.maxInFlight = max(256, 16*cfg.concurrency)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, ErrClosed)
	}

	deadLetterTopic := ""
	if cfg.deadLetter {
		deadLetterTopic = cmp.Or(cfg.deadLetterTopic, DefaultDeadLetterTopic(topic, cfg.group))
		if ensurer, ok := b.conn.(driver.TopicEnsurer); ok {
			if err := ensurer.EnsureTopic(ctx, deadLetterTopic); err != nil {
				return nil, fmt.Errorf("eventbus: subscribe to %q: dead-letter topic %q: %w", topic, deadLetterTopic, err)
			}
		}
	}
	driverSub, err := b.conn.Subscribe(ctx, topic, driver.SubscribeConfig{Group: cfg.group, Options: cfg.driverOptions})
	if err != nil {
		return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, err)
	}
	for i := len(cfg.middleware) - 1; i >= 0; i-- {
		h = cfg.middleware[i](h)
	}
	s := &Subscription{
		bus:             b,
		topic:           topic,
		deadLetterTopic: deadLetterTopic,
		cfg:             cfg,
		driverSub:       driverSub,
		handler:         h,
		logger:          b.logger.With("topic", topic, "group", cfg.group),
		receiving:       make(chan struct{}),
		keys:            make(map[string]*keyQueue),
		backoff:         make(map[*keyQueue]struct{}),
		ready:           make(chan *keyQueue, cfg.maxInFlight),
		slots:           make(chan struct{}, cfg.maxInFlight),
		done:            make(chan struct{}),
	}
	s.tel = b.tel.subscription(s)
	s.handlerCtx, s.cancelHandlers = context.WithCancel(context.WithoutCancel(ctx))
	receiveCtx, stopReceiving := context.WithCancel(ctx)
	s.stopReceiving = stopReceiving
	if err := b.addSubscription(s); err != nil {
		s.tel.stop()
		stopReceiving()
		s.cancelHandlers()
		_ = driverSub.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, err)
	}
	for range cfg.concurrency {
		s.workers.Go(s.work)
	}
	go s.receive(receiveCtx)
	return s, nil
}

// DefaultDeadLetterTopic is the dead-letter topic DeadLetter uses:
// "<topic>.<group>.dlq", or "<topic>.dlq" without a group.
func DefaultDeadLetterTopic(topic, group string) string {
	if group == "" {
		return topic + ".dlq"
	}
	return topic + "." + group + ".dlq"
}

// Topic is the subscribed topic.
func (s *Subscription) Topic() string { return s.topic }

// Done is closed once the subscription has shut down.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err reports why the subscription ended on its own (the backend failed);
// nil while it runs and after a requested shutdown.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// receive fetches deliveries while there is room in flight and queues them
// by key. When it returns, nothing more is fetched.
func (s *Subscription) receive(ctx context.Context) {
	defer close(s.receiving)
	batch := make([]driver.Delivery, min(s.cfg.maxInFlight, 128))
	for {
		// Take one slot, waiting for room, then whatever else is free.
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			s.stopOnItsOwn()
			return
		}
		// Only this loop takes slots, so the free ones stay free.
		n := min(len(batch), 1+cap(s.slots)-len(s.slots))
		for range n - 1 {
			s.slots <- struct{}{}
		}
		got, err := s.driverSub.Receive(ctx, batch[:n])
		for range n - got {
			<-s.slots
		}
		for i := range got {
			s.enqueue(&batch[i])
		}
		clear(batch[:got])
		if err != nil {
			if ctx.Err() == nil {
				s.err = fmt.Errorf("eventbus: receive from %q: %w", s.topic, err)
				s.logger.Error("subscription failed", "err", err)
			}
			s.stopOnItsOwn()
			return
		}
	}
}

func (s *Subscription) enqueue(d *driver.Delivery) {
	m := &Message{
		ID:      d.ID,
		Key:     d.Key,
		Payload: d.Payload,
		Header:  d.Header,
		Time:    d.Time,
		Topic:   s.topic,
		Group:   s.cfg.group,
		Attempt: max(d.Attempt, 1),
		receipt: d.Receipt,
	}
	s.mu.Lock()
	s.tel.received(m)
	if s.stopping {
		// A backend that went on receiving after shutdown began.
		s.mu.Unlock()
		s.settle(m, false, 0)
		return
	}
	var q *keyQueue
	if m.Key != "" {
		q = s.keys[m.Key]
	}
	if q == nil {
		q = keyQueues.Get().(*keyQueue)
		q.key = m.Key
		if m.Key != "" {
			s.keys[m.Key] = q
		}
	}
	q.msgs = append(q.msgs, m)
	if len(q.msgs) == 1 {
		// Never blocks: a queue is in ready at most once and holds at
		// least one of the at most maxInFlight messages.
		s.ready <- q
	}
	s.mu.Unlock()
}

func (s *Subscription) work() {
	for q := range s.ready {
		s.run(q)
	}
}

// run gives the head of q one handler run and applies the error policy.
func (s *Subscription) run(q *keyQueue) {
	s.mu.Lock()
	m, stopping := q.msgs[0], s.stopping
	s.mu.Unlock()
	if stopping || withdrawn(m) {
		s.settleHead(q, false, 0)
		return
	}
	m.Attempt = max(m.receipt.Attempt, 1) + q.failures
	err := s.invoke(m)
	if err == nil {
		s.settleHead(q, true, 0)
		return
	}
	now := time.Now()
	q.failures++
	if q.failures == 1 {
		q.firstFailure = now
	}
	q.lastErr = err

	s.mu.Lock()
	stopping = s.stopping
	if !stopping && !withdrawn(m) && s.cfg.retry.shouldRetry(err, q.failures, q.firstFailure) {
		delay := s.cfg.retry.backoff(q.failures)
		s.tel.retried()
		s.logger.Debug("handler failed, will retry", "id", m.ID, "key", m.Key, "attempt", m.Attempt, "retry_in", delay, "err", err)
		s.backoff[q] = struct{}{}
		q.timer = time.AfterFunc(delay, func() { s.retryNow(q, m) })
		if w := m.receipt.Withdrawn; w != nil {
			// A revoked partition waits for its messages: do not make it
			// wait out the backoff too.
			q.retried = make(chan struct{})
			go func(retried <-chan struct{}) {
				select {
				case <-w:
					s.retryNow(q, m)
				case <-retried:
				}
			}(q.retried)
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	switch {
	case stopping || withdrawn(m):
		// Shutdown or a revoked partition is never a reason to dead-letter.
		s.settleHead(q, false, 0)
	case s.deadLetterTopic != "":
		s.deadLetter(q, m, now)
	default:
		delay := s.cfg.retry.MaxBackoff
		s.logger.Warn("handler failed and no dead-letter topic is set: message nacked for redelivery",
			"id", m.ID, "key", m.Key, "attempt", m.Attempt, "redeliver_in", delay, "err", err)
		s.settleHead(q, false, delay)
	}
}

// retryNow ends the backoff of q, whose head is m, and queues it to run.
func (s *Subscription) retryNow(q *keyQueue, m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, waiting := s.backoff[q]; !waiting || q.msgs[0] != m {
		return // retried already, or shutdown took it over
	}
	s.endBackoff(q)
	s.ready <- q
}

// endBackoff takes q out of its retry backoff; s.mu is held.
func (s *Subscription) endBackoff(q *keyQueue) {
	delete(s.backoff, q)
	q.timer.Stop()
	q.timer = nil
	if q.retried != nil {
		close(q.retried)
		q.retried = nil
	}
}

func withdrawn(m *Message) bool {
	if m.receipt.Withdrawn == nil {
		return false
	}
	select {
	case <-m.receipt.Withdrawn:
		return true
	default:
		return false
	}
}

func (s *Subscription) invoke(m *Message) (err error) {
	ctx, process := s.tel.startProcess(s.handlerCtx, m)
	defer func() {
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
		process.end(err)
	}()
	return s.handler(ctx, m)
}

// deadLetter publishes the head of q to the dead-letter topic and acks it
// once that is durable; if the publish fails, the message is nacked.
func (s *Subscription) deadLetter(q *keyQueue, m *Message, lastFailure time.Time) {
	letter := driver.Message{ID: m.ID, Key: m.Key, Payload: m.Payload, Time: m.Time,
		Header: deadLetterHeader(m, s.cfg.group, q.lastErr, q.firstFailure, lastFailure)}
	send := s.tel.startDeadLetter(m, s.deadLetterTopic, letter.Header)
	err := s.bus.conn.Publish(s.handlerCtx, s.deadLetterTopic, []driver.Message{letter})
	send.end(err)
	if err != nil {
		delay := s.cfg.retry.MaxBackoff
		s.logger.Error("cannot publish to the dead-letter topic: message nacked for redelivery",
			"id", m.ID, "key", m.Key, "dead_letter_topic", s.deadLetterTopic, "redeliver_in", delay, "err", err)
		s.settleHead(q, false, delay)
		return
	}
	s.logger.Warn("message dead-lettered", "id", m.ID, "key", m.Key, "attempt", m.Attempt,
		"dead_letter_topic", s.deadLetterTopic, "err", q.lastErr)
	s.settleHead(q, true, 0)
}

// settleHead acks or nacks the head of q, then lets the key's next message
// run. A nack, and any settling during shutdown, also nacks the key's later
// messages, so the backend redelivers them after the head, in order.
func (s *Subscription) settleHead(q *keyQueue, ack bool, nackDelay time.Duration) {
	s.mu.Lock()
	head := q.msgs[0]
	var rest []*Message
	if !ack || s.stopping {
		rest = slices.Clone(q.msgs[1:])
	}
	taken := 1 + len(rest)
	copy(q.msgs, q.msgs[taken:])
	clear(q.msgs[len(q.msgs)-taken:])
	q.msgs = q.msgs[:len(q.msgs)-taken]
	q.failures, q.firstFailure, q.lastErr = 0, time.Time{}, nil
	more := len(q.msgs) > 0
	if more {
		s.ready <- q
	} else if q.key != "" {
		delete(s.keys, q.key)
	}
	s.mu.Unlock()

	s.settle(head, ack, nackDelay)
	for _, m := range rest {
		s.settle(m, false, nackDelay)
	}
	if !more {
		keyQueues.Put(q)
	}
}

func (s *Subscription) settle(m *Message, ack bool, nackDelay time.Duration) {
	s.tel.settled(m, ack)
	var err error
	if ack {
		err = s.driverSub.Ack(&m.receipt)
	} else {
		err = s.driverSub.Nack(&m.receipt, nackDelay)
	}
	if err != nil {
		s.logger.Warn("cannot settle message; the backend will redeliver it", "id", m.ID, "ack", ack, "err", err)
	}
	<-s.slots
}

// Close shuts the subscription down: it stops fetching, lets in-flight
// handlers finish, nacks messages that had not started or were waiting to
// retry (never dead-lettering them), commits and closes the consumer.
// Handlers' context is cancelled only when ctx is done. Close is
// idempotent and returns the shutdown's result.
func (s *Subscription) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { go s.shutdown(ctx) })
	if err := await(ctx, s.done); err != nil {
		return fmt.Errorf("eventbus: close subscription to %q: %w", s.topic, err)
	}
	return s.closeErr
}

// await waits for ch to close or ctx to be done, and returns ctx's error
// only when ch is still open: a ctx that is already done does not hide a
// finished wait.
func await(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopOnItsOwn shuts down after the Subscribe context was cancelled or the
// backend failed, draining for up to DrainTimeout.
func (s *Subscription) stopOnItsOwn() {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.drainTimeout)
		go func() {
			defer cancel()
			s.shutdown(ctx)
		}()
	})
}

func (s *Subscription) shutdown(ctx context.Context) {
	var errs []error
	s.stopReceiving()
	if err := await(ctx, s.receiving); err != nil {
		errs = append(errs, fmt.Errorf("the backend did not stop receiving: %w", err))
	}

	s.mu.Lock()
	s.stopping = true
	parked := make([]*keyQueue, 0, len(s.backoff))
	for q := range s.backoff {
		s.endBackoff(q)
		parked = append(parked, q)
	}
	s.mu.Unlock()
	for _, q := range parked {
		s.settleHead(q, false, 0)
	}
	// Nothing queues work any more: receiving stopped, backoffs ended,
	// and settling while stopping takes a key's whole queue. Workers
	// settle what is left in ready, then return.
	close(s.ready)

	drained := make(chan struct{})
	go func() {
		// Fetching has stopped, so holding every slot means every
		// received message was settled.
		for range cap(s.slots) {
			s.slots <- struct{}{}
		}
		close(drained)
	}()
	if err := await(ctx, drained); err != nil {
		s.cancelHandlers()
		errs = append(errs, fmt.Errorf("handlers still running at the deadline: %w", err))
	}
	if err := s.driverSub.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	s.cancelHandlers()
	s.tel.stop()
	s.bus.removeSubscription(s)
	if err := errors.Join(errs...); err != nil {
		s.closeErr = fmt.Errorf("eventbus: close subscription to %q: %w", s.topic, err)
	}
	close(s.done)
}
