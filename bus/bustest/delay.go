package bustest

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDelaysAndRetryStages checks delayed delivery and retry stages.
func (s *suite) testDelaysAndRetryStages(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"DelayedDeliveryIsNeverEarly", s.testDelayedDelivery},
		{"DelayedMessageDoesNotHoldBackItsKey", s.testDelayedDoesNotHoldKey},
		{"DelayedDeliverySurvivesRestart", s.testDelayedRestart},
		{"RetryStagesKeepPerKeyOrder", s.testRetryStagesOrder},
		{"RetryStagesAccumulateFailureHeaders", s.testRetryStageHeaders},
		{"RetryStagesSurviveRestart", s.testRetryStagesRestart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t)
		})
	}
}

// DelayReport is how late delayed messages reached their handler.
type DelayReport struct {
	N        int
	P50, P99 time.Duration
	Max      time.Duration
}

// lateness summarises how long after its DeliverAt each message ran.
func lateness(late []time.Duration) DelayReport {
	slices.Sort(late)
	at := func(q float64) time.Duration { return late[min(len(late)-1, int(q*float64(len(late))))] }
	return DelayReport{N: len(late), P50: at(0.50), P99: at(0.99), Max: late[len(late)-1]}
}

func (s *suite) testDelayedDelivery(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	type run struct {
		at        time.Time
		deliverAt time.Time
	}
	var (
		mu   sync.Mutex
		runs = make(map[string]run)
	)
	r := newRecorder()
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		runs[m.ID] = run{at: time.Now(), deliverAt: m.DeliverAt}
		mu.Unlock()
		r.record(m)
		return nil
	}, group(), bus.Concurrency(8))

	// A delayed message first, so that the subscription, and a delay
	// forwarder where the backend needs one, run before the measurement.
	warm := &bus.Message{Key: "warm", DeliverAt: time.Now().Add(50 * time.Millisecond)}
	s.publish(t, b, topic, warm)
	r.waitDistinct(t, s.Timeout, 1)

	const n = 40
	base := time.Now()
	msgs := numbered("delayed", n, 8)
	want := make(map[string]time.Time, n)
	for i, m := range msgs {
		// Spread over 0.5 s to 2.5 s, out of publish order.
		m.DeliverAt = base.Add(500*time.Millisecond + time.Duration((i*7)%n)*50*time.Millisecond)
	}
	now := &bus.Message{Key: "at-once", Payload: []byte("now")}
	s.publish(t, b, topic, append(msgs, now)...)
	for _, m := range msgs {
		want[m.ID] = m.DeliverAt
	}
	r.waitDistinct(t, s.Timeout, n+2)

	mu.Lock()
	defer mu.Unlock()
	late := make([]time.Duration, 0, n)
	for id, at := range want {
		got := runs[id]
		assert.True(t, got.deliverAt.Equal(at), "message %s: DeliverAt %v on delivery, published with %v", id, got.deliverAt, at)
		assert.False(t, got.at.Before(at), "message %s ran %v before its DeliverAt", id, at.Sub(got.at))
		late = append(late, got.at.Sub(at))
	}
	assert.True(t, runs[now.ID].deliverAt.IsZero(), "a message without DeliverAt has none on delivery")
	rep := lateness(late)
	t.Logf("%s: %d delayed messages ran after their DeliverAt by p50 %v, p99 %v, max %v", b, rep.N, rep.P50, rep.P99, rep.Max)
}

func (s *suite) testDelayedDoesNotHoldKey(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	r := newRecorder()
	s.subscribe(t, b, topic, r.handler, group())
	// Longer than Pulsar's delivery tick (1 s), by which Pulsar hands a
	// delayed message out early, to be held by the subscription.
	later := &bus.Message{Key: "k", Payload: []byte("later"), DeliverAt: time.Now().Add(2500 * time.Millisecond)}
	next := &bus.Message{Key: "k", Payload: []byte("next")}
	s.publish(t, b, topic, later, next)
	r.waitDistinct(t, s.Timeout, 2)
	got, _ := r.snapshot()
	assert.Equal(t, []string{next.ID, later.ID}, ids(got)[:2],
		"a delayed message joins its key's order when it is due, after the key's messages already due")
}

// testDelayedRestart closes the only member while delayed messages wait
// and checks that a new member gets each of them once, not early.
func (s *suite) testDelayedRestart(t *testing.T) {
	topic := s.topic(t)
	groupName := uniqueName("group")
	var (
		mu    sync.Mutex
		early []string
	)
	r := newRecorder()
	handler := func(ctx context.Context, m *bus.Message) error {
		if time.Now().Before(m.DeliverAt) {
			mu.Lock()
			early = append(early, m.ID)
			mu.Unlock()
		}
		r.record(m)
		return nil
	}
	b1 := s.Open(t)
	sub1, err := b1.Subscribe(t.Context(), topic, handler, bus.Group(groupName), bus.Concurrency(4))
	require.NoError(t, err)
	msgs := numbered("delayed", 20, 4)
	due := time.Now().Add(2 * time.Second)
	for _, m := range msgs {
		m.DeliverAt = due
	}
	s.publish(t, b1, topic, msgs...)
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	require.NoError(t, sub1.Close(ctx))
	require.NoError(t, b1.Close(ctx))

	b2 := s.open(t)
	s.subscribe(t, b2, topic, handler, bus.Group(groupName), bus.Concurrency(4))
	r.waitDistinct(t, s.Timeout, len(msgs))
	_, runs := r.snapshot()
	for _, m := range msgs {
		assert.Equal(t, 1, runs[m.ID], "runs of %s", m.ID)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, early, "messages that ran before their DeliverAt")
}

// failsRun decides from the message and its run whether the run fails, so
// that runs fail "at random" the same way on every backend.
func failsRun(m *bus.Message, run int, percent uint32) bool {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", m.ID, run)
	return h.Sum32()%100 < percent
}

func (s *suite) testRetryStagesOrder(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	groupName := uniqueName("group")
	const n, keys = 120, 12
	msgs := numbered("staged", n, keys)
	position := make(map[string]int, n)

	var (
		mu         sync.Mutex
		runs       = make(map[string]int)
		firstRuns  = make(map[string][]string) // per key, IDs in order of their first run
		firstStage = make(map[string][]string) // per key, the stage of each first run
		successes  = make(map[string]int)
		running    = make(map[string]bool)
		concurrent []string
	)
	done := newRecorder()
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		if running[m.Key] {
			concurrent = append(concurrent, m.Key)
		}
		running[m.Key] = true
		runs[m.ID]++
		run := runs[m.ID]
		if run == 1 {
			firstRuns[m.Key] = append(firstRuns[m.Key], m.ID)
			firstStage[m.Key] = append(firstStage[m.Key], m.Header[bus.HeaderRetryStage])
		}
		fail := failsRun(m, run, 35)
		if !fail {
			successes[m.ID]++
		}
		running[m.Key] = false
		mu.Unlock()
		if fail {
			return fmt.Errorf("run %d of %s fails", run, m.ID)
		}
		done.record(m)
		return nil
	}, bus.Group(groupName), bus.Concurrency(8), fastRetry(2),
		bus.RetryStages(200*time.Millisecond, 400*time.Millisecond), bus.DeadLetter())
	dead := newRecorder()
	s.subscribe(t, s.open(t), bus.DefaultDeadLetterTopic(topic, groupName), func(ctx context.Context, m *bus.Message) error {
		dead.record(m)
		done.record(m) // done counts every outcome
		return nil
	}, group())

	s.publish(t, b, topic, msgs...)
	for i, m := range msgs {
		position[m.ID] = i
	}
	done.waitDistinct(t, s.Timeout, n) // handled or dead-lettered

	mu.Lock()
	defer mu.Unlock()
	deadIDs, _ := dead.snapshot()
	for _, m := range deadIDs {
		assert.Zero(t, successes[m.ID], "message %s both succeeded and was dead-lettered", m.ID)
	}
	lost := 0
	for _, m := range msgs {
		if successes[m.ID] == 0 && !slices.Contains(ids(deadIDs), m.ID) {
			lost++
		}
		assert.LessOrEqual(t, successes[m.ID], 1, "message %s succeeded more than once", m.ID)
	}
	assert.Zero(t, lost, "messages neither handled nor dead-lettered")
	assert.Empty(t, concurrent, "keys that ran twice at once")
	for key, order := range firstRuns {
		positions := make([]int, len(order))
		for i, id := range order {
			positions[i] = position[id]
		}
		assert.True(t, slices.IsSorted(positions), "key %s: first runs out of publish order: %v (stages %v)", key, positions, firstStage[key])
	}
	t.Logf("%d messages, %d dead-lettered after both stages", n, len(deadIDs))
}

func (s *suite) testRetryStageHeaders(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	groupName := uniqueName("group")
	var (
		mu     sync.Mutex
		stages []string
		topics []string
	)
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		stages = append(stages, m.Header[bus.HeaderRetryStage])
		topics = append(topics, m.Topic)
		mu.Unlock()
		return fmt.Errorf("still failing on attempt %d", m.Attempt)
	}, bus.Group(groupName), fastRetry(2), bus.RetryStages(50*time.Millisecond, 100*time.Millisecond), bus.DeadLetter())
	dead := s.deadLetters(t, s.open(t), topic, groupName)

	m := &bus.Message{Key: "k", Payload: []byte("x"), Header: map[string]string{"tenant": "acme"}}
	s.publish(t, b, topic, m)
	dead.waitDistinct(t, s.Timeout, 1)
	letters, _ := dead.snapshot()
	h := letters[0].Header
	assert.Equal(t, m.ID, letters[0].ID)
	assert.Equal(t, "acme", h["tenant"])
	assert.Equal(t, "6", h[bus.HeaderDeadLetterAttempts], "2 runs in the topic and in each of 2 stages")
	assert.Equal(t, topic, h[bus.HeaderDeadLetterOriginalTopic], "the original topic stays")
	assert.Equal(t, groupName, h[bus.HeaderDeadLetterGroup])
	assert.Equal(t, "2", h[bus.HeaderRetryStage], "dead-lettered from the last stage")
	assert.Contains(t, h[bus.HeaderDeadLetterError], "still failing")
	first, err1 := time.Parse(time.RFC3339Nano, h[bus.HeaderDeadLetterFirstFailure])
	last, err2 := time.Parse(time.RFC3339Nano, h[bus.HeaderDeadLetterLastFailure])
	require.NoError(t, err1)
	require.NoError(t, err2)
	assert.GreaterOrEqual(t, last.Sub(first), 150*time.Millisecond, "the first failure is the one in the topic, before both stage delays")

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"", "", "1", "1", "2", "2"}, stages)
	for _, got := range topics {
		assert.Equal(t, topic, got, "handlers see the topic subscribed to, also in a stage")
	}
}

// testRetryStagesRestart closes the only member while messages are parked
// and checks that a new member runs each of them once, a key's parked
// messages in their order.
func (s *suite) testRetryStagesRestart(t *testing.T) {
	topic := s.topic(t)
	groupName := uniqueName("group")
	const keys = 4
	firsts := numbered("first", keys, keys)
	seconds := numbered("second", keys, keys)
	var (
		mu        sync.Mutex
		restarted bool
		successes = make(map[string]int)
		ranParked = make(map[string]bool) // IDs that ran from a stage
		order     = make(map[string][]string)
	)
	failed := newRecorder()
	done := newRecorder()
	handler := func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		if !restarted {
			mu.Unlock()
			failed.record(m)
			return fmt.Errorf("%s fails until the restart", m.Payload)
		}
		successes[m.ID]++
		order[m.Key] = append(order[m.Key], m.ID)
		ranParked[m.ID] = m.Header[bus.HeaderRetryStage] != ""
		mu.Unlock()
		done.record(m)
		return nil
	}
	opts := []bus.SubscribeOption{bus.Group(groupName), bus.Concurrency(4), fastRetry(1),
		bus.RetryStages(5 * time.Second), bus.DeadLetter()}

	b1 := s.Open(t)
	sub1, err := b1.Subscribe(t.Context(), topic, handler, opts...)
	require.NoError(t, err)
	s.publish(t, b1, topic, firsts...)
	failed.waitDistinct(t, s.Timeout, keys) // each first failed once and is being parked
	s.publish(t, b1, topic, seconds...)     // parked behind the firsts, if received before the restart
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	require.NoError(t, sub1.Close(ctx))
	require.NoError(t, b1.Close(ctx))
	mu.Lock()
	restarted = true
	mu.Unlock()

	b2 := s.open(t)
	s.subscribe(t, b2, topic, handler, opts...)
	done.waitDistinct(t, s.Timeout, 2*keys)

	mu.Lock()
	defer mu.Unlock()
	for i := range keys {
		first, second := firsts[i], seconds[i]
		assert.Equal(t, 1, successes[first.ID], "first message of %s", first.Key)
		assert.Equal(t, 1, successes[second.ID], "second message of %s", second.Key)
		// A first whose failure raced with Close was given back, not
		// parked: shutdown never parks. Then nothing was parked behind it.
		if ranParked[second.ID] {
			assert.True(t, ranParked[first.ID], "%s: the second message was parked behind a first that was not", first.Key)
			assert.Equal(t, []string{first.ID, second.ID}, order[first.Key],
				"%s: a message parked behind another runs after it", first.Key)
		}
	}
	parkedFirst, parkedBehind := 0, 0
	for i := range keys {
		if ranParked[firsts[i].ID] {
			parkedFirst++
		}
		if ranParked[seconds[i].ID] {
			parkedBehind++
		}
	}
	t.Logf("before the restart, %d of %d first messages were parked, and %d second messages behind them", parkedFirst, keys, parkedBehind)
}
