package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Retry stages.
//
// With RetryStages, a message whose in-process retries are used up is
// parked: published to the next retry stage topic, to run again after the
// stage's delay, and acked where it failed, so that its in-flight slot and
// the consumer move on. Each stage is a subscription of the same group,
// handler and policy on "<topic>.<group>.retry.<n>", run inside the
// Subscription that RetryStages was given to. After the last stage comes
// the dead-letter topic (or, without one, runs every HoldInterval in place).
//
// Per-key order: while a key has a message parked, the key's later
// messages are parked behind it, in the stage where it is, due when it is
// due, so that they run right after it and in their order; within a stage
// a message waits for those of its key parked there before it (see
// waitTurn). Which keys are
// parked is kept by the member in memory (parkedKeys), shared by the
// subscription and its stages. It learns a key from its own parks and from
// the stage messages it receives, and forgets it once the key has no
// parked message left. A member that restarts, or takes a partition over
// in a rebalance, starts without it: parked messages still run in their
// order among themselves, but a later message of the key that the member
// receives from the topic before it has received the parked one from its
// stage runs first. The same holds when a key's partition of the topic and
// of its stage belong to different members of the group.

// Headers of a parked message, besides the failure headers a dead letter
// carries (see HeaderDeadLetterError and the others), which accumulate over
// the stages: eventbus-dlq-attempts counts the runs of every stage, and
// the original topic, partition, offset and first failure stay.
const (
	// HeaderRetryStage is the stage a parked message waits in, from 1.
	HeaderRetryStage = "eventbus-retry-stage"
	// HeaderRetryBehind is set on a message parked only because an earlier
	// message of its key was.
	// Its value is "true".
	HeaderRetryBehind = "eventbus-retry-behind"
)

// RetryStages parks a message whose in-process retries (see Retry) are
// used up in retry stages, one per delay, instead of holding its key in the
// subscription: it runs again after each stage's delay, and goes to the
// dead-letter topic after the last stage. Needs a Group. The stage topics
// are RetryStageTopic(topic, group, n) for n from 1; they must exist unless
// the backend creates topics. See the package documentation on retry
// stages for per-key order.
//
//	bus.RetryStages(10*time.Second, time.Minute, 10*time.Minute)
func RetryStages(delays ...time.Duration) SubscribeOption {
	return func(c *subscribeConfig) error {
		if len(delays) == 0 {
			return fmt.Errorf("RetryStages: no delay given")
		}
		for i, d := range delays {
			if d <= 0 {
				return fmt.Errorf("RetryStages: delay %d (%v) is not positive", i+1, d)
			}
		}
		c.retryDelays = delays
		c.companion.parked = newParkedKeys()
		return nil
	}
}

// RetryStageTopic is the topic of retry stage n (from 1) of a subscription
// to topic in group: "<topic>.<group>.retry.<n>".
func RetryStageTopic(topic, group string, n int) string {
	return topic + "." + group + ".retry." + strconv.Itoa(n)
}

// companion describes a subscription that a Subscription runs beside
// itself: a retry stage or a delay forwarder.
type companion struct {
	origin    string      // the topic the user subscribed to; empty for the subscription itself
	stage     int         // retry stage, from 1; 0 when not a stage
	unordered bool        // deliveries are not queued by key (a delay forwarder)
	parked    *parkedKeys // shared by a subscription and its stages
	// deadLetterTopic is the origin's, for a stage.
	deadLetterTopic string
}

// backendGroup is the group the backend knows the subscription by. A
// retry stage has a group of its own there, so that on Kafka, where a
// group spans topics, its members joining and leaving do not rebalance the
// subscription's own partitions; Message.Group and the failure headers name
// the group the user gave.
func (c *subscribeConfig) backendGroup() string {
	if c.companion.stage > 0 {
		return c.group + ".retry." + strconv.Itoa(c.companion.stage)
	}
	return c.group
}

func companionOf(c companion) SubscribeOption {
	return func(cfg *subscribeConfig) error {
		cfg.companion = c
		return nil
	}
}

// originTopic is the topic the user subscribed to.
func (s *Subscription) originTopic() string { return cmp.Or(s.cfg.companion.origin, s.topic) }

// checkRetryStages validates RetryStages against the other options.
func (c *subscribeConfig) checkRetryStages() error {
	switch {
	case len(c.retryDelays) > 0 && c.group == "":
		return fmt.Errorf("RetryStages needs a Group")
	case len(c.retryDelays) > 0 && c.transactional:
		// A parked message would leave outside the transaction.
		return fmt.Errorf("RetryStages and Transactional do not go together")
	}
	return nil
}

// startCompanions starts what runs beside a subscription the user made:
// its retry stages and the forwarder of delayed messages. h is the
// handler before middleware.
func (s *Subscription) startCompanions(ctx context.Context, h Handler, opts []SubscribeOption) error {
	if s.cfg.companion.origin != "" {
		return nil
	}
	b := s.bus
	var started []*Subscription
	fail := func(err error) error {
		for _, c := range started {
			_ = c.Close(context.WithoutCancel(ctx))
		}
		return err
	}
	for n := 1; n <= len(s.cfg.retryDelays); n++ {
		topic := RetryStageTopic(s.topic, s.cfg.group, n)
		if ensurer, ok := b.conn.(driver.TopicEnsurer); ok {
			if err := ensurer.EnsureTopic(ctx, topic); err != nil {
				return fail(fmt.Errorf("retry stage %d topic %q: %w", n, topic, err))
			}
		}
		stageOpts := append(opts[:len(opts):len(opts)], companionOf(companion{
			origin: s.topic, stage: n, parked: s.cfg.companion.parked, deadLetterTopic: s.deadLetterTopic,
		}))
		sub, err := b.Subscribe(ctx, topic, h, stageOpts...)
		if err != nil {
			return fail(err)
		}
		started = append(started, sub)
	}
	if !b.caps.DelayedDelivery && s.cfg.group != "" {
		fwd, err := b.startDelayForwarder(ctx, s.topic)
		if err != nil {
			return fail(fmt.Errorf("delay forwarder: %w", err))
		}
		if fwd != nil {
			started = append(started, fwd)
		}
	}
	s.mu.Lock()
	s.companions = started
	s.mu.Unlock()
	return nil
}

// closeCompanions closes what startCompanions started.
func (s *Subscription) closeCompanions(ctx context.Context) error {
	s.mu.Lock()
	companions := s.companions
	s.mu.Unlock()
	errs := make([]error, len(companions))
	var wg sync.WaitGroup
	for i, c := range companions {
		wg.Go(func() { errs[i] = c.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stageLeft reports whether a retry stage follows the one s runs.
func (s *Subscription) stageLeft() bool {
	return s.cfg.companion.stage < len(s.cfg.retryDelays)
}

// parkedKeys is the member's record of the keys that have messages parked
// in retry stages.
type parkedKeys struct {
	mu   sync.Mutex
	keys map[string]*parkedKey
}

type parkedKey struct {
	messages []parkedRef // parked messages not yet done, in the order they were parked
	tail     int         // the latest stage any of them reached
	due      time.Time   // when the latest one parked in tail is due
	waiters  []func()    // told when one of messages is done
}

// parkedRef is one message waiting in one stage.
type parkedRef struct {
	id    string
	stage int
}

func newParkedKeys() *parkedKeys { return &parkedKeys{keys: make(map[string]*parkedKey)} }

// add records message id of key as parked in stage, due then.
func (p *parkedKeys) add(key, id string, stage int, due time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.keys[key]
	if k == nil {
		k = &parkedKey{}
		p.keys[key] = k
	}
	if !slices.Contains(k.messages, parkedRef{id, stage}) {
		k.messages = append(k.messages, parkedRef{id, stage})
	}
	switch {
	case stage > k.tail:
		k.tail, k.due = stage, due
	case stage == k.tail && due.After(k.due):
		k.due = due
	}
}

// done forgets message id of key in stage and tells the key's waiters.
func (p *parkedKeys) done(key, id string, stage int) {
	p.mu.Lock()
	k := p.keys[key]
	if k == nil {
		p.mu.Unlock()
		return
	}
	k.messages = slices.DeleteFunc(k.messages, func(r parkedRef) bool { return r == parkedRef{id, stage} })
	waiters := k.waiters
	k.waiters = nil
	if len(k.messages) == 0 {
		delete(p.keys, key)
	}
	p.mu.Unlock()
	for _, wake := range waiters {
		wake()
	}
}

// waitTurn reports whether message id of key, in stage, must wait for a
// message of its key parked before it in the same stage; wake is then
// called once a message of the key is done.
func (p *parkedKeys) waitTurn(key, id string, stage int, wake func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.keys[key]
	if k == nil {
		return false
	}
	for _, r := range k.messages {
		if r.stage == stage {
			if r.id == id {
				return false
			}
			k.waiters = append(k.waiters, wake)
			return true
		}
	}
	return false
}

// behind reports where a message of key in stage must be parked: in the
// stage tail, due then, when a message of key is parked in a later stage.
func (p *parkedKeys) behind(key string, stage int) (tail int, due time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.keys[key]
	if k == nil || k.tail <= stage {
		return 0, time.Time{}, false
	}
	return k.tail, k.due, true
}

// learnParked records a message a retry stage is about to run as parked,
// for a member that did not park it itself (after a restart or a
// rebalance).
func (s *Subscription) learnParked(m *Message) {
	if c := s.cfg.companion; c.stage > 0 && c.parked != nil && m.Key != "" {
		c.parked.add(m.Key, m.ID, c.stage, m.DeliverAt)
	}
}

// parkBehind parks the head m of q behind an earlier message of its key
// that waits in a later retry stage, and reports whether it did.
func (s *Subscription) parkBehind(q *keyQueue, m *Message) bool {
	c := s.cfg.companion
	if c.parked == nil || m.Key == "" {
		return false
	}
	tail, due, ok := c.parked.behind(m.Key, c.stage)
	if !ok {
		return false
	}
	h := maps.Clone(m.Header)
	if h == nil {
		h = make(map[string]string, 2)
	}
	h[HeaderRetryStage] = strconv.Itoa(tail)
	h[HeaderRetryBehind] = "true"
	s.publishToStage(q, m, tail, due, h)
	return true
}

// waitTurn keeps the head m of q, in a retry stage, from running before
// the messages of its key that were parked in the stage before it, and
// reports whether it did: the broker may hand a stage's messages out in
// another order when they are due at about the same time (Pulsar releases
// delayed messages once per tick, and those due within the tick at once).
// m then waits apart from its key's queue until one of them is done, or
// MaxBackoff in all, for a message that never comes to this member.
func (s *Subscription) waitTurn(q *keyQueue, m *Message) bool {
	c := s.cfg.companion
	if c.stage == 0 || c.parked == nil || m.Key == "" {
		return false
	}
	if m.turnWait.IsZero() {
		m.turnWait = time.Now()
	}
	wait := s.cfg.retry.MaxBackoff - time.Since(m.turnWait)
	if wait <= 0 {
		return false
	}
	if !s.lockUnlessStopping(q) {
		return true
	}
	own := keyQueues.Get().(*keyQueue)
	own.msgs = append(own.msgs, m)
	if !c.parked.waitTurn(m.Key, m.ID, c.stage, func() { s.retryNow(own, m) }) {
		s.mu.Unlock()
		own.msgs = own.msgs[:0]
		keyQueues.Put(own)
		return false
	}
	emptied := s.detachHead(q)
	s.waitToRun(own, m, wait)
	s.mu.Unlock()
	if emptied != nil {
		keyQueues.Put(emptied)
	}
	return true
}

// park publishes the head m of q, which failed, to the next retry stage
// with the failure headers, and acks it once that is durable.
func (s *Subscription) park(q *keyQueue, m *Message, lastFailure time.Time) {
	next := s.cfg.companion.stage + 1
	h := deadLetterHeader(m, s.cfg.group, q.lastErr, q.firstFailure, lastFailure)
	h[HeaderRetryStage] = strconv.Itoa(next)
	delete(h, HeaderRetryBehind)
	due := lastFailure.Add(s.cfg.retryDelays[next-1])
	s.logger.Info("handler failed, message parked in a retry stage", "id", m.ID, "key", m.Key,
		"attempt", m.Attempt, "stage", next, "due", due, "err", q.lastErr)
	s.publishToStage(q, m, next, due, h)
}

// publishToStage publishes m with header h to retry stage n, due then,
// records it as parked and acks it. If the publish fails, m runs again
// after the policy's HoldInterval, or is given back at shutdown.
func (s *Subscription) publishToStage(q *keyQueue, m *Message, n int, due time.Time, h map[string]string) {
	topic := RetryStageTopic(s.originTopic(), s.cfg.group, n)
	parked := driver.Message{ID: m.ID, Key: m.Key, Payload: m.Payload, Time: m.Time, Header: h, DeliverAt: due}
	if err := s.bus.conn.Publish(s.handlerCtx, topic, []driver.Message{parked}); err != nil {
		delay := s.cfg.retry.holdInterval()
		s.logger.Error("cannot publish to the retry stage: the message will run again",
			"id", m.ID, "key", m.Key, "stage_topic", topic, "retry_in", delay, "err", err)
		s.runAgainLater(q, m, delay)
		return
	}
	if m.Key != "" {
		s.cfg.companion.parked.add(m.Key, m.ID, n, due)
	}
	s.ackHead(q, m, nil)
}

// runAgainLater lets the head m of q, which could not be settled, run
// again after delay, or gives q back when shutdown began.
func (s *Subscription) runAgainLater(q *keyQueue, m *Message, delay time.Duration) {
	if !s.lockUnlessStopping(q) {
		return
	}
	s.waitToRun(q, m, delay)
	s.mu.Unlock()
}

// lockUnlessStopping takes s.mu and reports true, unless shutdown began:
// then it gives q back to the backend instead and reports false.
func (s *Subscription) lockUnlessStopping(q *keyQueue) bool {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		s.giveBack(q)
		return false
	}
	return true
}

// finished is told that a message of a stage is settled for good in it:
// handled, dead-lettered or parked in a later stage.
func (s *Subscription) finished(m *Message) {
	c := s.cfg.companion
	if c.stage > 0 && c.parked != nil && m.Key != "" {
		c.parked.done(m.Key, m.ID, c.stage)
	}
}

// keepEarlierFailures makes the failure headers h of a message that comes
// from a retry stage accumulate: from the headers prior it arrived with,
// the attempts add up, and the original topic, place and first failure
// stay. The stage's own partition and offset are not the place it failed.
func keepEarlierFailures(h, prior map[string]string, attempts int) {
	if _, staged := prior[HeaderRetryStage]; !staged {
		return
	}
	if n, err := strconv.Atoi(prior[HeaderDeadLetterAttempts]); err == nil {
		h[HeaderDeadLetterAttempts] = strconv.Itoa(n + attempts)
	}
	for _, name := range []string{HeaderDeadLetterOriginalTopic, HeaderDeadLetterFirstFailure, HeaderDeadLetterPartition, HeaderDeadLetterOffset} {
		if v, ok := prior[name]; ok {
			h[name] = v
		} else if name == HeaderDeadLetterPartition || name == HeaderDeadLetterOffset {
			delete(h, name)
		}
	}
}
