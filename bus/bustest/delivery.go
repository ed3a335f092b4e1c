package bustest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (s *suite) testRoundTrip(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	large := make([]byte, 1<<20)
	_, _ = crand.Read(large)
	sent := []*bus.Message{
		{ID: "id-binary", Key: "k1", Payload: binary,
			Header: map[string]string{"unicode": "héllo wörld 世界 🚀", "plain": "v"},
			Time:   time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{Key: "k2", Payload: nil, Header: map[string]string{"kind": "empty"}},
		{Key: "k3", Payload: large},
	}
	s.publish(t, b, topic, sent...)
	for _, m := range sent {
		require.NotEmpty(t, m.ID, "Publish fills an empty ID")
		require.False(t, m.Time.IsZero(), "Publish fills a zero Time")
	}

	r := newRecorder()
	s.subscribe(t, b, topic, r.handler, group())
	r.waitDistinct(t, s.Timeout, len(sent))
	got, _ := r.snapshot()
	byID := make(map[string]*bus.Message)
	for _, m := range got {
		byID[m.ID] = m
	}
	for _, want := range sent {
		m := byID[want.ID]
		require.NotNil(t, m, "message %s delivered", want.ID)
		assert.Equal(t, want.Key, m.Key, "key of %s", want.ID)
		assert.True(t, bytes.Equal(want.Payload, m.Payload), "payload of %s: %d bytes sent, %d received", want.ID, len(want.Payload), len(m.Payload))
		assert.Equal(t, normalize(want.Header), normalize(m.Header), "header of %s", want.ID)
		assert.True(t, want.Time.Equal(m.Time), "time of %s: sent %v, received %v", want.ID, want.Time, m.Time)
		assert.Equal(t, topic, m.Topic)
		assert.Equal(t, 1, m.Attempt)
	}
}

func normalize(h map[string]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	return h
}

func (s *suite) testNoCrossTalk(t *testing.T) {
	b := s.open(t)
	const topics, each = 4, 15
	recorders := make([]*recorder, topics)
	names := make([]string, topics)
	for i := range topics {
		names[i] = s.topic(t)
		recorders[i] = newRecorder()
		s.subscribe(t, b, names[i], recorders[i].handler, group())
	}
	for i, name := range names {
		s.publish(t, b, name, numbered(name, each, 3)...)
		_ = i
	}
	for i, r := range recorders {
		r.waitDistinct(t, s.Timeout, each)
		got, _ := r.snapshot()
		for _, m := range got {
			assert.True(t, strings.HasPrefix(string(m.Payload), names[i]+"-"), "topic %s got %q", names[i], m.Payload)
			assert.Equal(t, names[i], m.Topic)
		}
	}
}

func (s *suite) testPublishBeforeSubscribe(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	sent := numbered("early", 10, 4)
	s.publish(t, b, topic, sent...)
	r := newRecorder()
	s.subscribe(t, s.open(t), topic, r.handler, group())
	r.waitDistinct(t, s.Timeout, len(sent))
	_, runs := r.snapshot()
	for _, id := range ids(sent) {
		assert.Contains(t, runs, id)
	}
}

func (s *suite) testTwoGroups(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	a, c := newRecorder(), newRecorder()
	s.subscribe(t, b, topic, a.handler, group())
	s.subscribe(t, s.open(t), topic, c.handler, group())
	sent := numbered("fanout", 40, 8)
	s.publish(t, b, topic, sent...)
	for _, r := range []*recorder{a, c} {
		r.waitDistinct(t, s.Timeout, len(sent))
		_, runs := r.snapshot()
		for _, id := range ids(sent) {
			assert.Contains(t, runs, id)
		}
		assert.Len(t, runs, len(sent), "only what was published")
	}
}

func (s *suite) testMembersSplit(t *testing.T) {
	topic := s.topic(t)
	g := group()
	members := []*recorder{newRecorder(), newRecorder()}
	all := newRecorder()
	for _, r := range members {
		s.subscribe(t, s.open(t), topic, func(ctx context.Context, m *bus.Message) error {
			r.record(m)
			all.record(m)
			return nil
		}, g, bus.Concurrency(4))
	}
	b := s.open(t)
	// Publish in rounds until both members have had work: joining a group
	// takes a backend-dependent while.
	var sent []*bus.Message
	deadline := time.Now().Add(s.Timeout)
	for round := 0; members[0].distinct() == 0 || members[1].distinct() == 0; round++ {
		require.True(t, time.Now().Before(deadline), "both members got work within %v", s.Timeout)
		batch := numbered(fmt.Sprintf("round%d", round), 20, 20)
		for _, m := range batch {
			m.Key = fmt.Sprintf("r%d-%s", round, m.Key)
		}
		s.publish(t, b, topic, batch...)
		sent = append(sent, batch...)
		all.waitDistinct(t, s.Timeout, len(sent))
	}
	_, runs := all.snapshot()
	assert.Len(t, runs, len(sent), "every message handled, nothing else")
	duplicates := 0
	for _, n := range runs {
		duplicates += n - 1
	}
	assert.Zero(t, duplicates, "no duplicates in normal operation")
	t.Logf("%d messages: member 1 handled %d, member 2 handled %d", len(sent), members[0].distinct(), members[1].distinct())
}

func (s *suite) testEphemeralStartsAtLatest(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	old := &bus.Message{Payload: []byte("old")}
	s.publish(t, b, topic, old)
	r := newRecorder()
	s.subscribe(t, s.open(t), topic, r.handler)
	// The subscription becomes live at a backend-dependent moment: publish
	// until a new message arrives.
	for round := 0; r.distinct() == 0; round++ {
		require.Less(t, round, 100, "an ephemeral subscription receives new messages")
		s.publish(t, b, topic, &bus.Message{Payload: []byte("new")})
		timeout := time.NewTimer(s.Timeout / 50)
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-timeout.C:
		}
		timeout.Stop()
	}
	_, runs := r.snapshot()
	assert.NotContains(t, runs, old.ID, "a message from before the subscription is not delivered")
}

func (s *suite) testPerKeyOrder(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	const keys, perKey = 24, 20
	var (
		mu        sync.Mutex
		order     = make(map[string][]int)
		active    = make(map[string]bool)
		overlaps  []string
		running   atomic.Int32
		maxActive atomic.Int32
	)
	r := newRecorder()
	handler := func(ctx context.Context, m *bus.Message) error {
		var seq int
		if _, err := fmt.Sscanf(string(m.Payload), "%d", &seq); err != nil {
			return bus.Permanent(err)
		}
		mu.Lock()
		if active[m.Key] {
			overlaps = append(overlaps, m.Key)
		}
		active[m.Key] = true
		if m.Attempt == 1 {
			order[m.Key] = append(order[m.Key], seq)
		}
		mu.Unlock()
		n := running.Add(1)
		for cur := maxActive.Load(); n > cur && !maxActive.CompareAndSwap(cur, n); cur = maxActive.Load() {
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) // the handler's work
		running.Add(-1)
		mu.Lock()
		active[m.Key] = false
		mu.Unlock()
		r.record(m)
		return nil
	}
	s.subscribe(t, b, topic, handler, group(), bus.Concurrency(16))
	var sent []*bus.Message
	for seq := range perKey {
		for k := range keys {
			sent = append(sent, &bus.Message{Key: fmt.Sprintf("key-%d", k), Payload: fmt.Appendf(nil, "%d", seq)})
		}
	}
	s.publish(t, b, topic, sent...)
	r.waitDistinct(t, s.Timeout, len(sent))
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, overlaps, "a key never runs twice at once")
	for k := range keys {
		key := fmt.Sprintf("key-%d", k)
		seqs := order[key]
		require.Len(t, seqs, perKey, "first deliveries of %s", key)
		for i, seq := range seqs {
			require.Equal(t, i, seq, "order of %s: %v", key, seqs)
		}
	}
	assert.Greater(t, maxActive.Load(), int32(1), "different keys run in parallel")
}

func (s *suite) testConcurrentPublishers(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	r := newRecorder()
	s.subscribe(t, s.open(t), topic, r.handler, group(), bus.Concurrency(8))
	const publishers, each = 50, 10
	var wg sync.WaitGroup
	errs := make(chan error, publishers*each)
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				m := &bus.Message{Key: fmt.Sprintf("p%d", p), Payload: fmt.Appendf(nil, "%d-%d", p, i)}
				if err := b.Publish(t.Context(), topic, m); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	r.waitDistinct(t, s.Timeout, publishers*each)
	_, runs := r.snapshot()
	assert.Len(t, runs, publishers*each)
}
