package kafka

import (
	"fmt"
	"sort"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// The consumer is polled without blocking, and poll waits in Go when it
// has nothing: a blocking Poll would hold one of Go's Ps in C for its whole
// timeout (the runtime takes a P back from a cgo call only when its
// monitor thread notices, up to 10 ms later), stalling every goroutine
// queued behind it. The wait starts short and doubles while the consumer
// stays empty, so a busy consumer polls again at once.
//
// A message that reaches a consumer between polls waits for the next one,
// half the longest wait on average. While messages keep coming that is
// half a millisecond for a connection's only consumer, growing with their
// number so that the connection polls about a thousand times a second in
// all; a consumer that had nothing for a second, or nothing yet, waits
// longer, up to maxPollWait, since every wake-up costs CPU.
const (
	minPollWait       = 500 * time.Microsecond
	maxPollWait       = 8 * time.Millisecond
	activePollsPerSec = 1000
	activeFor         = time.Second
)

// longestPollWait is the longest wait of one of a connection's n polling
// consumers that has had nothing for idle.
func longestPollWait(idle time.Duration, n int32) time.Duration {
	if idle >= activeFor {
		return maxPollWait
	}
	return min(max(time.Duration(n)*time.Second/activePollsPerSec, minPollWait), maxPollWait)
}

// maintainEvery is how often poll stores acked offsets, pauses and
// resumes partitions and finishes subscriptions that left.
const maintainEvery = 10 * time.Millisecond

// emptyWait is how a poll loop waits after the consumer had nothing.
type emptyWait struct {
	timer *time.Timer
	wait  time.Duration
}

func newEmptyWait() *emptyWait {
	w := &emptyWait{timer: time.NewTimer(time.Hour), wait: minPollWait}
	w.timer.Stop()
	return w
}

// reset makes the next wait the shortest: the consumer had something.
func (w *emptyWait) reset() { w.wait = minPollWait }

// sleep waits until it is time to poll again or wake says there is news;
// the waits grow up to longest.
func (w *emptyWait) sleep(wake <-chan struct{}, longest time.Duration) {
	w.timer.Reset(w.wait)
	select {
	case <-w.timer.C:
	case <-wake:
		w.timer.Stop()
	}
	w.wait = min(2*w.wait, longest)
}

// poll is the consumer's goroutine: it polls, serves rebalances, subscribes
// to the topics of the member's subscriptions, stores offsets for commit,
// pauses and resumes partitions, and closes the consumer once no
// subscription is left.
func (m *member) poll() {
	defer close(m.done)
	m.conn.polling.Add(1)
	defer m.conn.polling.Add(-1)
	now := time.Now()
	lastMaintain := now
	var lastMessage time.Time // none yet: a joining consumer waits like an idle one
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	empty := newEmptyWait()
	full := false // the last accept filled its subscription's queue
	for {
		if m.changed.Swap(false) && !m.resubscribe() {
			m.close()
			return
		}
		if full && m.backlogged() {
			// Every subscription is behind: leave messages in
			// librdkafka's bounded queue until bus catches up, but
			// still poll now and then for rebalances.
			idle.Reset(50 * time.Millisecond)
			select {
			case <-m.drained:
			case <-idle.C:
			case <-m.wake:
			}
			idle.Stop()
		}
		switch e := m.consumer.Poll(0).(type) {
		case *kafka.Message:
			full = m.accept(e)
			empty.reset()
			lastMessage = now // the loop's last turn: close enough
		case kafka.Error:
			if e.IsFatal() {
				m.err = fmt.Errorf("kafka: consume: %w", e)
				m.logger.Error("kafka: fatal consumer error", "err", e)
				m.close()
				return
			}
			m.logger.Debug("kafka: consumer error", "err", e)
		case nil:
			empty.sleep(m.wake, longestPollWait(now.Sub(lastMessage), m.conn.polling.Load()))
		}
		if now = time.Now(); now.Sub(lastMaintain) >= maintainEvery {
			m.maintain()
			lastMaintain = now
		}
	}
}

// backlogged reports whether every subscription's queue is at its limit.
func (m *member) backlogged() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.subs {
		if s.queue.Len() < s.limit {
			return false
		}
	}
	return true
}

// accept queues a polled message for its topic's subscription, and
// reports whether that queue is full.
func (m *member) accept(msg *kafka.Message) (full bool) {
	if msg.TopicPartition.Error != nil {
		m.logger.Warn("kafka: consume error", "topic", msg.TopicPartition.Topic, "partition", msg.TopicPartition.Partition, "err", msg.TopicPartition.Error)
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.subs[*msg.TopicPartition.Topic]
	if s == nil {
		return false // an orphan's: paused, and left to its next owner
	}
	return s.accept(msg)
}

// accept queues a polled message unless its partition is gone, the
// subscription is stopping, the offset was polled before (librdkafka
// refetches after a pause) or the previous owner acked it already. It
// reports whether the queue is full. Callers hold mu.
func (s *subscription) accept(m *kafka.Message) (full bool) {
	offset := int64(m.TopicPartition.Offset)
	p := s.parts[m.TopicPartition.Partition]
	if !s.stopping && p != nil && !p.restarting && offset >= p.next && p.poll(offset) {
		s.queue.Push(polled{msg: m, p: p})
		s.wakeReceive()
	}
	return s.queue.Len() >= s.limit
}

// maintain stores what was acked for librdkafka's next commit, pauses
// partitions while their subscription's queue is full and resumes them
// once it has drained, and finishes subscriptions that have left.
func (m *member) maintain() {
	var store, pause, seek, resume []kafka.TopicPartition
	m.mu.Lock()
	// Pausing discards what librdkafka prefetched, so a member serving
	// one subscription pauses only as a last resort, for a queue that grew
	// past twice its limit one rebalance poll at a time (poll stops
	// polling when it is full). A member serving several pauses a full
	// subscription's partitions, so that the others go on.
	shared := len(m.subs) > 1
	for _, s := range m.subs {
		pauseAt := 2 * s.limit
		if shared {
			pauseAt = s.limit
		}
		full, low := s.queue.Len() >= pauseAt, s.queue.Len() < pauseAt/2
		for _, p := range s.parts {
			if s.tx == nil { // tx.go commits in transactions
				if tp, ok := s.toCommit(p); ok {
					store = append(store, tp)
				}
			}
			tp := kafka.TopicPartition{Topic: &s.topic, Partition: p.id}
			switch {
			case (full || p.restarting) && !p.paused:
				pause, p.paused = append(pause, tp), true
			case p.restarting && !p.loading:
				// Paused and loaded (group.go, tx.go): to where it
				// starts, resumed next time.
				tp.Offset = kafka.Offset(p.seekTo)
				seek, p.restarting = append(seek, tp), false
			case low && p.paused && !p.loading:
				resume, p.paused = append(resume, tp), false
			}
		}
	}
	left := m.left()
	m.mu.Unlock()
	finish(left)
	if len(seek) > 0 {
		if _, err := m.consumer.SeekPartitions(seek); err != nil {
			m.logger.Warn("kafka: seek", "partitions", seek, "err", err)
		}
	}
	if len(store) > 0 {
		if _, err := m.consumer.StoreOffsets(store); err != nil {
			m.logger.Debug("kafka: store offsets", "partitions", store, "err", err)
		}
	}
	if len(pause) > 0 {
		if err := m.consumer.Pause(pause); err != nil {
			m.logger.Warn("kafka: pause", "partitions", pause, "err", err)
		}
	}
	if len(resume) > 0 {
		if err := m.consumer.Resume(resume); err != nil {
			m.logger.Warn("kafka: resume", "partitions", resume, "err", err)
		}
	}
}

// close runs on the poll goroutine once no subscription is left, or the
// consumer failed: it stores what was acked, and closing the consumer
// revokes its partitions, commits what is stored and leaves the group.
func (m *member) close() {
	m.maintain()
	m.conn.membersMu.Lock()
	m.mu.Lock()
	m.unlist()
	m.mu.Unlock()
	m.conn.membersMu.Unlock()
	if err := m.consumer.Close(); err != nil {
		m.logger.Warn("kafka: close consumer", "err", err)
	}
	m.logs.Wait()
	m.mu.Lock()
	subs := m.subscriptions()
	clear(m.subs)
	for _, s := range subs {
		for _, p := range s.parts {
			p.gone = true
		}
	}
	m.mu.Unlock()
	for _, s := range subs {
		if s.tx != nil {
			s.tx.close()
		}
	}
	finish(subs)
}

func ids(tps []kafka.TopicPartition) []int32 {
	out := make([]int32, len(tps))
	for i, tp := range tps {
		out[i] = tp.Partition
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
