package bus

import (
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// run gives the head of q one handler run, decides what becomes of it
// (see decide) and carries that out.
func (s *Subscription) run(q *keyQueue) {
	s.mu.Lock()
	m, abandoned := q.msgs[0], s.abandoned
	s.mu.Unlock()
	if abandoned || withdrawn(m) {
		s.giveBack(q)
		return
	}
	if s.deferRun(q, m) {
		return
	}
	attempt := max(m.receipt.Attempt, 1) + q.failures
	m.Attempt = attempt
	outputs, err := s.invoke(m)
	var now time.Time // only a failure needs the clock
	if err != nil {
		now = time.Now()
		q.failures++
		if q.failures == 1 {
			q.firstFailure = now
		}
		q.lastErr = err
	}

	s.mu.Lock()
	// Decided under mu, so that shutdown finds a queue that is about to
	// wait in backoff.
	v := decide(runResult{err: err, failures: q.failures, firstFailure: q.firstFailure, now: now,
		stopping: s.stopping, withdrawn: withdrawn(m), stageLeft: s.stageLeft()}, s.cfg.retry, s.deadLetterTopic != "")
	var emptied *keyQueue
	switch {
	case v.action == retry || v.action == hold:
		s.waitToRun(q, m, v.delay)
	case v.action == ack && s.txSub == nil:
		// Under the same lock: the key's next message may run at once.
		emptied = s.detachHead(q)
	}
	s.mu.Unlock()

	// Once q waits in backoff, another worker may run m: only its
	// immutable fields and the copies above are read from here on.
	switch v.action {
	case ack:
		if s.txSub == nil {
			s.acked(m, emptied)
		} else {
			s.ackHead(q, m, outputs)
		}
	case retry:
		s.tel.retried()
		s.logger.Debug("handler failed, will retry", "id", m.ID, "key", m.Key, "attempt", attempt, "retry_in", v.delay, "err", err)
	case hold:
		s.logger.Warn("handler failed, retries are used up and there is no dead-letter topic: the message will run again",
			"id", m.ID, "key", m.Key, "attempt", attempt, "retry_in", v.delay, "err", err)
	case deadLetter:
		s.deadLetter(q, m, now)
	case park:
		s.park(q, m, now)
	case giveBack:
		s.giveBack(q)
	}
}

// waitToRun puts q in backoff until its head m runs again after delay; a
// withdrawal of m ends the wait early. s.mu is held.
func (s *Subscription) waitToRun(q *keyQueue, m *Message, delay time.Duration) {
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

// endBackoff takes q out of its backoff; s.mu is held.
func (s *Subscription) endBackoff(q *keyQueue) {
	delete(s.backoff, q)
	q.timer.Stop()
	q.timer = nil
	if q.retried != nil {
		close(q.retried)
		q.retried = nil
	}
}

func withdrawn(m *Message) bool { return driver.Closed(m.receipt.Withdrawn) }

// deadLetter publishes the head of q to the dead-letter topic and acks it
// once that is durable. If the publish fails, the message stays and runs
// again after the policy's HoldInterval. A transactional subscription commits the dead
// letter with the ack instead.
func (s *Subscription) deadLetter(q *keyQueue, m *Message, lastFailure time.Time) {
	letter := deadLetterMessage(m, s.cfg.group, q.lastErr, q.firstFailure, lastFailure)
	var outputs []driver.Output
	if s.txSub != nil {
		// Committed with the ack, like a handler's outputs.
		outputs = []driver.Output{{Topic: s.deadLetterTopic, Message: letter}}
	} else if err := s.publishDeadLetter(m, letter); err != nil {
		delay := s.cfg.retry.holdInterval()
		s.logger.Error("cannot publish to the dead-letter topic: the message will run again",
			"id", m.ID, "key", m.Key, "dead_letter_topic", s.deadLetterTopic, "retry_in", delay, "err", err)
		s.runAgainLater(q, m, delay)
		return
	}
	s.logger.Warn("message dead-lettered", "id", m.ID, "key", m.Key, "attempt", m.Attempt,
		"dead_letter_topic", s.deadLetterTopic, "err", q.lastErr)
	s.ackHead(q, m, outputs)
}

// publishDeadLetter publishes letter, the dead letter of m, with its send
// span.
func (s *Subscription) publishDeadLetter(m *Message, letter driver.Message) error {
	send := s.tel.startDeadLetter(m, s.deadLetterTopic, letter.Header)
	err := s.bus.conn.Publish(s.handlerCtx, s.deadLetterTopic, []driver.Message{letter})
	send.end(err)
	return err
}

// ackHead acks head, the head of q, with the outputs of its run in a
// transactional subscription, and lets the key's next message run.
func (s *Subscription) ackHead(q *keyQueue, head *Message, outputs []driver.Output) {
	if s.txSub != nil {
		// Handed to the driver before the key's next message can run,
		// so that outputs commit in per-key order. AckWith never waits
		// for other messages.
		s.settle(head, true, outputs)
	}
	s.mu.Lock()
	emptied := s.detachHead(q)
	s.mu.Unlock()
	s.acked(head, emptied)
}

// acked finishes head, which detachHead took out of its queue, and
// recycles the queue that left empty, if any. A transactional
// subscription has settled head already, with the outputs of its run.
func (s *Subscription) acked(head *Message, emptied *keyQueue) {
	s.finished(head)
	if s.txSub == nil {
		s.settle(head, true, nil)
	}
	if emptied != nil {
		keyQueues.Put(emptied)
	}
}

// giveBack returns every message of q to the backend, head first, so that
// it redelivers them in their order.
func (s *Subscription) giveBack(q *keyQueue) {
	s.mu.Lock()
	msgs := q.msgs
	q.msgs = nil
	q.failures, q.firstFailure, q.lastErr = 0, time.Time{}, nil
	s.forget(q)
	s.mu.Unlock()

	for _, m := range msgs {
		s.settle(m, false, nil)
	}
	clear(msgs)
	q.msgs = msgs[:0]
	keyQueues.Put(q)
}

// forget drops the empty queue q from the key index; s.mu is held.
func (s *Subscription) forget(q *keyQueue) {
	if q.key != "" {
		delete(s.keys, q.key)
	}
}

// settle acks or gives back m. A transactional subscription acks with the
// outputs of m's run: the driver commits them with the ack, later and
// atomically, and redelivers m if that fails.
func (s *Subscription) settle(m *Message, ack bool, outputs []driver.Output) {
	s.tel.settled(m, ack)
	var err error
	switch {
	case ack && s.txSub != nil:
		err = s.txSub.AckWith(&m.receipt, outputs)
	case ack:
		err = s.driverSub.Ack(&m.receipt)
	default:
		err = s.driverSub.Nack(&m.receipt, 0)
	}
	if err != nil {
		s.logger.Warn("cannot settle message; the backend will redeliver it", "id", m.ID, "ack", ack, "err", err)
	}
	s.inFlight.release(1)
}
