package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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
	txSub           driver.TxSubscription // driverSub, when Transactional
	handler         Handler
	logger          *slog.Logger
	tel             *subscriptionTelemetry // spans, metrics, lag

	// handlerCtx carries the Subscribe context's values to handlers; it is
	// cancelled only when the shutdown deadline passes.
	handlerCtx     context.Context
	cancelHandlers context.CancelFunc
	stopReceiving  context.CancelFunc
	receiving      chan struct{} // closed when the receive loop has returned

	inFlight *inFlight

	mu        sync.Mutex
	stopping  bool                   // shutdown began: nothing new is fetched
	abandoned bool                   // shutdown's deadline passed: nothing more starts
	keys      map[string]*keyQueue   // keyed queues with messages in flight
	backoff   map[*keyQueue]struct{} // queues waiting to run their head again
	ready     chan *keyQueue         // queues whose head may run
	workers   sync.WaitGroup
	quit      chan struct{} // closed when workers should return

	companions []*Subscription // retry stages and delay forwarder; see startCompanions

	closeOnce sync.Once
	done      chan struct{}
	closeErr  error
	err       error // why the subscription ended on its own, if it did
}

// inFlight bounds how many received messages are not settled yet: the
// receive loop takes slots for what it fetches, settling gives them back.
// It is a counter rather than a channel of slots, so that taking or giving
// back a slot is one atomic add.
//
// When every slot is taken, the receive loop waits until a batch's worth
// is free again, or, while a worker has nothing to run, until any slot is
// free, rather than for each slot: while every worker is busy, it then
// fetches and queues messages many at a time instead of one per settled
// message.
type inFlight struct {
	limit       int64
	batch       int64 // free slots that end a wait for room
	taken       atomic.Int64
	idleWorkers atomic.Int32
	// waiting is set while the receive loop waits for room; a release
	// then signals room, which has a buffer of one.
	waiting atomic.Bool
	room    chan struct{}
	// draining is set once shutdown waits for every slot; the release
	// that frees the last one closes empty.
	draining  atomic.Bool
	emptyOnce sync.Once
	empty     chan struct{}
}

func newInFlight(limit, batch int) *inFlight {
	return &inFlight{limit: int64(limit), batch: int64(batch), room: make(chan struct{}, 1), empty: make(chan struct{})}
}

// acquire takes up to n slots, at least one, waiting for room until ctx is
// done, and returns how many it took: 0 when ctx ended first. Only the
// receive loop acquires, so free slots stay free meanwhile.
func (f *inFlight) acquire(ctx context.Context, n int) int {
	for {
		if free := f.limit - f.taken.Load(); free > 0 {
			took := min(int64(n), free)
			f.taken.Add(took)
			return int(took)
		}
		f.waiting.Store(true)
		if f.taken.Load() < f.limit {
			continue // released before waiting was seen
		}
		select {
		case <-f.room:
		case <-ctx.Done():
			return 0
		}
	}
}

// release gives back n slots.
func (f *inFlight) release(n int) {
	if n == 0 {
		return
	}
	left := f.taken.Add(-int64(n))
	if f.limit-left >= f.batch || f.idleWorkers.Load() > 0 {
		f.signalRoom()
	}
	if left == 0 && f.draining.Load() {
		f.emptyOnce.Do(func() { close(f.empty) })
	}
}

// workerIdle and workerBusy bracket a worker's wait for a message to run.
func (f *inFlight) workerIdle() {
	f.idleWorkers.Add(1)
	if f.taken.Load() < f.limit {
		f.signalRoom()
	}
}

func (f *inFlight) workerBusy() { f.idleWorkers.Add(-1) }

// signalRoom wakes the receive loop if it waits for room.
func (f *inFlight) signalRoom() {
	if f.waiting.Load() && f.waiting.CompareAndSwap(true, false) {
		select {
		case f.room <- struct{}{}:
		default: // already signalled
		}
	}
}

// drained is closed once every slot is free, after fetching stopped: by
// then every received message was settled.
func (f *inFlight) drained() <-chan struct{} {
	f.draining.Store(true)
	if f.taken.Load() == 0 {
		f.emptyOnce.Do(func() { close(f.empty) })
	}
	return f.empty
}

// keyQueue holds the in-flight messages of one key in arrival order. Its
// head is the one running or waiting to run again; the rest wait behind it.
// Messages without a key each get a queue of their own.
//
// Ownership: msgs, timer and retried are guarded by Subscription.mu. The
// failure fields belong to whoever runs the head: one worker at a time,
// handed on through the ready channel or a backoff timer.
type keyQueue struct {
	key  string
	msgs []*Message

	// The head's failures so far.
	failures     int
	firstFailure time.Time
	lastErr      error

	timer   *time.Timer   // ends the head's backoff
	retried chan struct{} // closed when a backoff watched for withdrawal ends
}

var keyQueues = sync.Pool{New: func() any { return new(keyQueue) }}

// Subscribe starts handling the messages of topic with h and returns at
// once; messages are handled in the background until Close, the bus's
// Close, or ctx is cancelled (which drains in-flight handlers for up to
// DrainTimeout). See the SubscribeOption functions for the choices.
func (b *Bus) Subscribe(ctx context.Context, topic string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("eventbus: subscribe to %q: handler is nil", topic)
	}
	cfg := defaultSubscribeConfig()
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("eventbus: subscribe to %q: an option is nil", topic)
		}
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, err)
		}
	}
	if err := cfg.checkRetryStages(); err != nil {
		return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, err)
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
		deadLetterTopic = cmp.Or(cfg.companion.deadLetterTopic, cfg.deadLetterTopic, DefaultDeadLetterTopic(topic, cfg.group))
		if ensurer, ok := b.conn.(driver.TopicEnsurer); ok {
			if err := ensurer.EnsureTopic(ctx, deadLetterTopic); err != nil {
				return nil, fmt.Errorf("eventbus: subscribe to %q: dead-letter topic %q: %w", topic, deadLetterTopic, err)
			}
		}
	}
	driverSub, txSub, err := b.subscribe(ctx, topic, cfg)
	if err != nil {
		return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, err)
	}
	unwrapped := h
	for i := len(cfg.middleware) - 1; i >= 0; i-- {
		h = cfg.middleware[i](h)
	}
	h = readStructured(h)
	s := &Subscription{
		bus:             b,
		topic:           topic,
		deadLetterTopic: deadLetterTopic,
		cfg:             cfg,
		driverSub:       driverSub,
		txSub:           txSub,
		handler:         h,
		logger:          b.logger.With("topic", topic, "group", cfg.group),
		receiving:       make(chan struct{}),
		keys:            make(map[string]*keyQueue),
		backoff:         make(map[*keyQueue]struct{}),
		ready:           make(chan *keyQueue, cfg.maxInFlight),
		inFlight:        newInFlight(cfg.maxInFlight, receiveBatch(cfg.maxInFlight)/2),
		quit:            make(chan struct{}),
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
	if err := s.startCompanions(ctx, unwrapped, opts); err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("eventbus: subscribe to %q: %w", topic, err)
	}
	return s, nil
}

// subscribe asks the driver for a subscription, a transactional one when
// cfg says so.
func (b *Bus) subscribe(ctx context.Context, topic string, cfg subscribeConfig) (driver.Subscription, driver.TxSubscription, error) {
	dcfg := driver.SubscribeConfig{Group: cfg.backendGroup(), Options: cfg.driverOptions}
	if !cfg.transactional {
		sub, err := b.conn.Subscribe(ctx, topic, dcfg)
		return sub, nil, err
	}
	if cfg.group == "" {
		return nil, nil, errors.New("Transactional needs a Group: the position it commits belongs to the group")
	}
	transactor, ok := b.conn.(driver.Transactor)
	if !ok {
		return nil, nil, fmt.Errorf("transactional subscriptions on %s: %w", b.name, ErrUnsupported)
	}
	sub, err := transactor.SubscribeTx(ctx, topic, dcfg)
	return sub, sub, err
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
	batch := make([]driver.Delivery, receiveBatch(s.cfg.maxInFlight))
	msgs := make([]*Message, len(batch))
	for {
		n := s.inFlight.acquire(ctx, len(batch))
		if n == 0 {
			s.stopOnItsOwn()
			return
		}
		got, err := s.driverSub.Receive(ctx, batch[:n])
		s.inFlight.release(n - got)
		for i := range got {
			msgs[i] = s.newMessage(&batch[i])
		}
		s.enqueue(msgs[:got])
		clear(batch[:got])
		clear(msgs[:got])
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

// receiveBatch is the most deliveries one Receive takes.
func receiveBatch(maxInFlight int) int { return min(maxInFlight, 128) }

// newMessage is the Message a handler receives for d.
func (s *Subscription) newMessage(d *driver.Delivery) *Message {
	return &Message{
		ID:        d.ID,
		Key:       d.Key,
		Payload:   d.Payload,
		Header:    d.Header,
		Time:      d.Time,
		DeliverAt: d.DeliverAt,
		Topic:     s.originTopic(),
		Group:     s.cfg.group,
		Attempt:   max(d.Attempt, 1),
		receipt:   d.Receipt,
	}
}

// enqueue queues the messages of one Receive, taking s.mu once for all.
func (s *Subscription) enqueue(msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.tel.received(m)
		s.queue(m)
	}
}

// queue appends m to its key's queue, or to a queue of its own; s.mu is
// held.
func (s *Subscription) queue(m *Message) {
	key := m.Key
	if s.cfg.companion.unordered {
		key = ""
	}
	var q *keyQueue
	if key != "" {
		q = s.keys[key]
	}
	if q == nil {
		q = keyQueues.Get().(*keyQueue)
		q.key = key
		if key != "" {
			s.keys[key] = q
		}
	}
	q.msgs = append(q.msgs, m)
	if len(q.msgs) == 1 {
		// Never blocks: a queue is in ready at most once and holds at
		// least one of the at most maxInFlight messages.
		s.ready <- q
	}
}

func (s *Subscription) work() {
	for {
		select {
		case q := <-s.ready:
			s.run(q)
			continue
		default:
		}
		s.inFlight.workerIdle()
		select {
		case q := <-s.ready:
			s.inFlight.workerBusy()
			s.run(q)
		case <-s.quit:
			return
		}
	}
}

// invoke runs the handler once, in its process span. In a transactional
// subscription it also returns what the run published, which counts only
// if the run succeeded.
func (s *Subscription) invoke(m *Message) (outputs []driver.Output, err error) {
	ctx, process := s.tel.startProcess(s.handlerCtx, m)
	if s.txSub != nil {
		var run *runOutputs
		ctx, run = withRunOutputs(ctx, s.bus)
		defer func() { outputs = run.end() }()
	}
	defer func() {
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
		process.end(err)
	}()
	return nil, s.handler(ctx, m)
}

// Close shuts the subscription down, duplicating nothing it can finish: it
// stops fetching, runs every message it had already received (handlers'
// context is cancelled only when ctx is done), gives back to the backend
// the messages waiting to retry (never dead-lettering them), then commits,
// leaves the group and closes the consumer. When ctx ends first, messages
// that had not started are given back too. Close is idempotent and returns
// the shutdown's result.
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
	s.driverSub.StopReceiving()

	// Messages waiting to run again are given back now rather than
	// after their backoff; the rest runs to the end.
	s.mu.Lock()
	s.stopping = true
	parked := make([]*keyQueue, 0, len(s.backoff))
	for q := range s.backoff {
		s.endBackoff(q)
		parked = append(parked, q)
	}
	s.mu.Unlock()
	for _, q := range parked {
		s.giveBack(q)
	}

	if err := await(ctx, s.inFlight.drained()); err != nil {
		// Whatever has not started is left unsettled: Close gives it
		// back. Running handlers are told to stop.
		s.mu.Lock()
		s.abandoned = true
		s.mu.Unlock()
		s.cancelHandlers()
		errs = append(errs, fmt.Errorf("handlers still running at the deadline: %w", err))
	}
	close(s.quit)
	if err := s.driverSub.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	s.cancelHandlers()
	if err := s.closeCompanions(ctx); err != nil {
		errs = append(errs, err)
	}
	s.tel.stop()
	s.bus.removeSubscription(s)
	if err := errors.Join(errs...); err != nil {
		s.closeErr = fmt.Errorf("eventbus: close subscription to %q: %w", s.topic, err)
	}
	close(s.done)
}
