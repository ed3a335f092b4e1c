package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// stream publishes a keyed stream through one bus and consumes it in a
// group through another, while a test breaks the broker underneath. Each
// key's messages carry sequence numbers 0, 1, 2, ...; the next message of a
// key is published only once the previous one is acknowledged, so the
// order of first handlings per key must follow the sequence.
type stream struct {
	t     *testing.T
	topic string
	keys  int

	mu       sync.Mutex
	acked    map[string]bool // message IDs whose Publish returned nil
	handled  map[string]int  // handler runs per message ID
	lastSeq  map[string]int  // per key, the sequence of the last first handling
	disorder []string
	ackTimes []time.Time // when each acknowledgement came
	runTimes []time.Time // when each first handling happened
	pubErrs  int
	changed  chan struct{}

	stop      chan struct{}
	published chan struct{}
}

func newStream(t *testing.T, topic string, keys int) *stream {
	return &stream{
		t: t, topic: topic, keys: keys,
		acked: map[string]bool{}, handled: map[string]int{}, lastSeq: map[string]int{},
		changed: make(chan struct{}), stop: make(chan struct{}), published: make(chan struct{}),
	}
}

// openBus opens url with only errors logged, and closes the bus when the
// test ends.
func openBus(t *testing.T, url string) *bus.Bus {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, url, bus.Logger(logger))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func messageID(key string, seq int) string { return key + "/" + strconv.Itoa(seq) }

// handle records a delivery and checks per-key order of first handlings.
func (s *stream) handle(_ context.Context, m *bus.Message) error {
	seq, err := strconv.Atoi(m.Header["seq"])
	if err != nil {
		return bus.Permanent(fmt.Errorf("message %s without a sequence: %w", m.ID, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handled[m.ID]++
	if s.handled[m.ID] == 1 {
		if last, seen := s.lastSeq[m.Key]; seen && seq != last+1 {
			s.disorder = append(s.disorder, fmt.Sprintf("key %s: %d handled first after %d", m.Key, seq, last))
		} else if !seen && seq != 0 {
			s.disorder = append(s.disorder, fmt.Sprintf("key %s: %d handled first, before 0", m.Key, seq))
		}
		s.lastSeq[m.Key] = seq
		s.runTimes = append(s.runTimes, time.Now())
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// publish sends round after round, one message per key in each Publish
// call, until stop is closed; a failed message is published again (same
// ID) until acknowledged, before its key's next message.
func (s *stream) publish(b *bus.Bus) {
	defer close(s.published)
	for round := 0; ; round++ {
		select {
		case <-s.stop:
			return
		default:
		}
		pending := make([]*bus.Message, s.keys)
		for k := range pending {
			key := "key-" + strconv.Itoa(k)
			pending[k] = &bus.Message{ID: messageID(key, round), Key: key,
				Payload: []byte("payload"), Header: map[string]string{"seq": strconv.Itoa(round)}}
		}
		for len(pending) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := b.Publish(ctx, s.topic, pending...)
			cancel()
			var failed []*bus.Message
			var pe *bus.PublishError
			switch {
			case err == nil:
			case errors.As(err, &pe):
				for _, f := range pe.Failed {
					failed = append(failed, pending[f.Index])
				}
			default:
				failed = pending
			}
			now := time.Now()
			s.mu.Lock()
			for _, m := range pending {
				if !contains(failed, m) {
					s.acked[m.ID] = true
					s.ackTimes = append(s.ackTimes, now)
				}
			}
			if err != nil {
				s.pubErrs++
			}
			s.mu.Unlock()
			pending = failed
		}
	}
}

func contains(msgs []*bus.Message, m *bus.Message) bool {
	for _, x := range msgs {
		if x == m {
			return true
		}
	}
	return false
}

// ackCount is the number of acknowledged messages so far.
func (s *stream) ackCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// waitAcked waits until n more messages than now are acknowledged.
func (s *stream) waitAcked(n int, timeout time.Duration) {
	s.t.Helper()
	want := s.ackCount() + n
	deadline := time.Now().Add(timeout)
	for s.ackCount() < want {
		require.True(s.t, time.Now().Before(deadline), "the publisher did not get %d more messages acknowledged within %v", n, timeout)
		time.Sleep(20 * time.Millisecond) // polls the publisher's progress, no result depends on the period
	}
}

// finish stops the publisher and waits until every acknowledged message was
// handled, then checks and reports.
func (s *stream) finish(timeout time.Duration, faultAt time.Time) {
	s.t.Helper()
	close(s.stop)
	<-s.published
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		missing := 0
		for id := range s.acked {
			if s.handled[id] == 0 {
				missing++
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if missing == 0 {
			break
		}
		select {
		case <-changed:
		case <-deadline.C:
			require.FailNowf(s.t, "messages lost", "%d acknowledged messages were not handled within %v", missing, timeout)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	duplicates := 0
	for _, runs := range s.handled {
		duplicates += runs - 1
	}
	assert.Empty(s.t, s.disorder, "per-key order of first handlings")
	s.t.Logf("%d messages acknowledged, all handled (0 lost); %d handler runs were duplicates; %d Publish calls failed and were retried",
		len(s.acked), duplicates, s.pubErrs)
	s.t.Logf("stalled after the fault: publishing for %v at most, handling for %v at most",
		longestGap(s.ackTimes, faultAt).Round(time.Millisecond), longestGap(s.runTimes, faultAt).Round(time.Millisecond))
}

// longestGap is the longest time without an event from since on.
func longestGap(times []time.Time, since time.Time) time.Duration {
	var gap time.Duration
	last := since
	for _, at := range times {
		if at.Before(since) {
			continue
		}
		gap = max(gap, at.Sub(last))
		last = at
	}
	return gap
}
