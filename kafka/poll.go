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
// stays empty, so a busy consumer polls again at once and an idle one
// costs a few hundred wake-ups a second.
const (
	minPollWait = 500 * time.Microsecond
	maxPollWait = 8 * time.Millisecond
)

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

// sleep waits until it is time to poll again or done closes.
func (w *emptyWait) sleep(done <-chan struct{}) {
	w.timer.Reset(w.wait)
	select {
	case <-w.timer.C:
	case <-done:
		w.timer.Stop()
	}
	w.wait = min(2*w.wait, maxPollWait)
}

// poll is the consumer's goroutine: it polls, serves rebalances, stores
// offsets for commit, pauses and resumes partitions, and closes the
// consumer.
func (s *subscription) poll() {
	defer close(s.done)
	lastMaintain := time.Now()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	empty := newEmptyWait()
	full := false // the last accept filled the queue
	for {
		select {
		case <-s.stop:
			s.close()
			return
		default:
		}
		if full && s.backlogged() {
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
		switch e := s.consumer.Poll(0).(type) {
		case *kafka.Message:
			full = s.accept(e)
			empty.reset()
		case kafka.Error:
			if e.IsFatal() {
				s.err = fmt.Errorf("kafka: consume %q: %w", s.topic, e)
				s.logger.Error("kafka: fatal consumer error", "err", e)
				s.close()
				return
			}
			s.logger.Debug("kafka: consumer error", "err", e)
		case nil:
			s.maintain()
			lastMaintain = time.Now()
			empty.sleep(s.stop)
			continue
		}
		if now := time.Now(); now.Sub(lastMaintain) >= 10*time.Millisecond {
			s.maintain()
			lastMaintain = now
		}
	}
}

func (s *subscription) backlogged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) >= s.limit
}

// accept queues a polled message unless its partition is gone, the
// subscription is stopping, the offset was polled before (librdkafka
// refetches after a pause) or the previous owner acked it already. It
// reports whether the queue is full.
func (s *subscription) accept(m *kafka.Message) (full bool) {
	if m.TopicPartition.Error != nil {
		s.logger.Warn("kafka: consume error", "partition", m.TopicPartition.Partition, "err", m.TopicPartition.Error)
		return false
	}
	offset := int64(m.TopicPartition.Offset)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.parts[m.TopicPartition.Partition]
	if !s.stopping && p != nil && !p.restarting && offset >= p.next && p.poll(offset) {
		s.queue = append(s.queue, polled{msg: m, p: p})
		s.wakeReceive()
	}
	return len(s.queue) >= s.limit
}

// maintain stores what was acked for librdkafka's next commit, and pauses
// partitions while the queue is full and resumes them once it has drained.
func (s *subscription) maintain() {
	var store, pause, seek, resume []kafka.TopicPartition
	s.mu.Lock()
	// Pausing discards what librdkafka prefetched, so it is the last
	// resort, for a queue that grew past twice its limit one rebalance
	// poll at a time.
	full, low := len(s.queue) >= 2*s.limit, len(s.queue) <= s.limit
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
			// An aborted transaction's partition (tx.go), paused and
			// loaded: back to the group's commit, resumed next time.
			tp.Offset = kafka.Offset(p.seekTo)
			seek, p.restarting = append(seek, tp), false
		case low && p.paused && !p.loading:
			resume, p.paused = append(resume, tp), false
		}
	}
	s.mu.Unlock()
	if len(seek) > 0 {
		if _, err := s.consumer.SeekPartitions(seek); err != nil {
			s.logger.Warn("kafka: seek", "partitions", ids(seek), "err", err)
		}
	}
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
}

// close runs on the poll goroutine once bus has settled what it could: it
// stores what was acked, and closing the consumer revokes its partitions,
// commits what is stored and leaves the group.
func (s *subscription) close() {
	s.maintain()
	if err := s.consumer.Close(); err != nil {
		s.logger.Warn("kafka: close consumer", "err", err)
	}
	if s.tx != nil {
		s.tx.close()
	}
	s.mu.Lock()
	for _, p := range s.parts {
		p.gone = true
	}
	s.mu.Unlock()
}

func ids(tps []kafka.TopicPartition) []int32 {
	out := make([]int32, len(tps))
	for i, tp := range tps {
		out[i] = tp.Partition
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
