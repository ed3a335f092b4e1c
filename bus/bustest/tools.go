package bustest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// The tools cases: reading a topic without a group, topic admin, a group's
// lag, and dead-letter inspection and replay. A backend without admin or
// reading fails these cases.

func (s *suite) toolTests() []namedTest {
	tests := []namedTest{
		{"Tools/ReadTopicFromTheStart", s.testReadTopic},
		{"Tools/ReadTopicFollows", s.testReadTopicFollows},
		{"Tools/LagOfAGroup", s.testLag},
		{"Tools/DeadLettersListAndReplay", s.testDeadLetterReplay},
		{"Tools/InterruptedReplayResumes", s.testReplayInterrupted},
	}
	if !s.NoCreateTopic {
		tests = append(tests, namedTest{"Tools/TopicAdmin", s.testTopicAdmin})
	}
	return tests
}

// readAll reads topic as it is now.
func (s *suite) readAll(t *testing.T, b *bus.Bus, topic string) []*bus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	var got []*bus.Message
	require.NoError(t, b.ReadTopic(ctx, topic, false, func(m *bus.Message) error {
		got = append(got, m)
		return nil
	}))
	return got
}

func (s *suite) testReadTopic(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	sent := numbered("read", 30, 3)
	s.publish(t, b, topic, sent...)
	got := s.readAll(t, b, topic)
	require.Len(t, got, len(sent), "everything the topic held, then it returns")
	assertPerKeyOrder(t, sent, got)
	again := s.readAll(t, b, topic)
	assert.Len(t, again, len(sent), "reading consumed nothing")
}

// assertPerKeyOrder checks that got holds sent's messages in their order
// per key.
func assertPerKeyOrder(t *testing.T, sent, got []*bus.Message) {
	t.Helper()
	index := map[string]int{}
	for i, m := range sent {
		index[m.ID] = i
	}
	last := map[string]int{}
	for _, m := range got {
		i, ok := index[m.ID]
		require.True(t, ok, "unexpected message %s", m.ID)
		if prev, seen := last[m.Key]; seen {
			assert.Less(t, prev, i, "key %s out of order", m.Key)
		}
		last[m.Key] = i
	}
}

func (s *suite) testReadTopicFollows(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	before := numbered("before", 5, 5)
	s.publish(t, b, topic, before...)
	ctx, cancel := context.WithCancel(t.Context())
	r := newRecorder()
	done := make(chan error, 1)
	go func() {
		done <- b.ReadTopic(ctx, topic, true, func(m *bus.Message) error {
			r.record(m)
			return nil
		})
	}()
	r.waitDistinct(t, s.Timeout, len(before))
	after := numbered("after", 5, 5)
	s.publish(t, b, topic, after...)
	r.waitDistinct(t, s.Timeout, len(before)+len(after))
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled, "a followed read ends with its ctx")
	case <-time.After(s.Timeout):
		t.Fatal("ReadTopic did not return after its ctx was cancelled")
	}
}

func (s *suite) testTopicAdmin(t *testing.T) {
	b := s.open(t)
	ctx := t.Context()
	name := uniqueName("admin")
	err := b.CreateTopic(ctx, name, 3)
	if errors.Is(err, bus.ErrUnsupported) {
		// mem:// topics have no partitions.
		require.NoError(t, b.CreateTopic(ctx, name, 1))
	} else {
		require.NoError(t, err)
	}
	info, err := b.DescribeTopic(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, name, info.Name)
	topics, err := b.Topics(ctx)
	require.NoError(t, err)
	assert.Contains(t, topics, info)
	assert.ErrorIs(t, b.CreateTopic(ctx, name, 1), bus.ErrTopicExists)
	_, err = b.DescribeTopic(ctx, uniqueName("missing"))
	assert.ErrorIs(t, err, bus.ErrTopicNotFound)
}

func (s *suite) testLag(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	groupName := uniqueName("group")
	sent := numbered("lag", 20, 4)
	start := time.Now()
	for _, m := range sent {
		// One at a time: Pulsar counts a batch of messages as one.
		s.publish(t, b, topic, m)
	}

	// A member handles the first ten it gets and holds back the rest.
	consumer := s.Open(t)
	handled, held := newRecorder(), make(chan struct{})
	var once sync.Once
	_, err := consumer.Subscribe(t.Context(), topic, func(ctx context.Context, m *bus.Message) error {
		if handled.distinct() >= 10 {
			once.Do(func() { close(held) })
			return errors.New("not now")
		}
		handled.record(m)
		return nil
	}, bus.Group(groupName), bus.Retry(bus.RetryPolicy{MaxAttempts: 1, HoldInterval: time.Hour}))
	require.NoError(t, err)
	s.waitClosed(t, held, "ten messages handled and the rest held back")
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	require.NoError(t, consumer.Close(ctx))

	lags, err := b.GroupLag(t.Context(), groupName, topic)
	require.NoError(t, err)
	var total int64
	oldest := time.Time{}
	for _, l := range lags {
		total += l.Messages
		if l.Messages > 0 && (oldest.IsZero() || l.Oldest.Before(oldest)) {
			oldest = l.Oldest
		}
	}
	assert.Equal(t, int64(len(sent)-10), total, "the messages the group has not acked: %+v", lags)
	assert.WithinDuration(t, start, oldest, time.Minute, "the oldest unconsumed message's time")
}

// deadLetterSetup dead-letters the messages of keys "bad-*" and returns
// the dead-letter topic and the dead-lettered messages.
func (s *suite) deadLetterSetup(t *testing.T, b *bus.Bus) (topic, deadLetterTopic string, bad []*bus.Message) {
	topic = s.topic(t)
	groupName := uniqueName("group")
	var msgs []*bus.Message
	for i := range 12 {
		m := &bus.Message{Key: fmt.Sprint("good-", i%3), Payload: fmt.Appendf(nil, "good-%d", i)}
		if i%2 == 0 {
			m.Key = fmt.Sprint("bad-", i%4)
			m.Payload = fmt.Appendf(nil, "bad-%d", i)
			m.Header = map[string]string{"tenant": "acme"}
			bad = append(bad, m)
		}
		msgs = append(msgs, m)
	}
	dead := s.deadLetters(t, b, topic, groupName)
	s.subscribe(t, b, topic, func(_ context.Context, m *bus.Message) error {
		if strings.HasPrefix(m.Key, "bad-") {
			return bus.Permanent(fmt.Errorf("cannot handle %s", m.Payload))
		}
		return nil
	}, bus.Group(groupName), bus.DeadLetter())
	s.publish(t, b, topic, msgs...)
	dead.waitDistinct(t, s.Timeout, len(bad))
	return topic, bus.DefaultDeadLetterTopic(topic, groupName), bad
}

func (s *suite) testDeadLetterReplay(t *testing.T) {
	b := s.open(t)
	topic, dlq, bad := s.deadLetterSetup(t, b)
	ctx := t.Context()

	all, err := b.DeadLetters(ctx, dlq, bus.DeadLetterFilter{}, 0)
	require.NoError(t, err)
	require.Len(t, all, len(bad))
	for _, d := range all {
		assert.Equal(t, topic, d.OriginalTopic)
		assert.True(t, d.Permanent)
		assert.Contains(t, d.Error, "cannot handle")
		assert.False(t, d.LastFailure.IsZero())
	}
	someKey := bad[0].Key
	byKey, err := b.DeadLetters(ctx, dlq, bus.DeadLetterFilter{Key: someKey}, 0)
	require.NoError(t, err)
	for _, d := range byKey {
		assert.Equal(t, someKey, d.Key)
	}
	byText, err := b.DeadLetters(ctx, dlq, bus.DeadLetterFilter{ErrorContains: string(bad[1].Payload)}, 0)
	require.NoError(t, err)
	require.Len(t, byText, 1)
	assert.Equal(t, bad[1].ID, byText[0].ID)
	limited, err := b.DeadLetters(ctx, dlq, bus.DeadLetterFilter{}, 2)
	require.NoError(t, err)
	assert.Len(t, limited, 2)

	// Replay one key's letters to a topic of their own.
	target := s.topic(t)
	replayed := newRecorder()
	s.subscribe(t, b, target, replayed.handler, group())
	report, err := b.ReplayDeadLetters(ctx, dlq, bus.ReplayOptions{Filter: bus.DeadLetterFilter{Key: someKey}, To: target, Rate: 100})
	require.NoError(t, err)
	assert.Equal(t, bus.ReplayReport{Selected: len(byKey), Replayed: len(byKey)}, report)
	replayed.waitDistinct(t, s.Timeout, len(byKey))
	msgs, _ := replayed.snapshot()
	for _, m := range msgs {
		assert.Equal(t, someKey, m.Key)
		assert.Equal(t, "acme", m.Header["tenant"], "other headers travel")
		for h := range m.Header {
			assert.False(t, strings.HasPrefix(h, "eventbus-dlq-"), "replayed with the dead-letter header %s", h)
		}
	}
	assert.ElementsMatch(t, idsOf(byKey), ids(msgs), "replayed with their IDs")

	again, err := b.ReplayDeadLetters(ctx, dlq, bus.ReplayOptions{Filter: bus.DeadLetterFilter{Key: someKey}, To: target})
	require.NoError(t, err)
	assert.Equal(t, bus.ReplayReport{Selected: len(byKey), AlreadyReplayed: len(byKey)}, again, "a second replay publishes nothing")
}

func idsOf(letters []bus.DeadLetterMessage) []string {
	out := make([]string, len(letters))
	for i, d := range letters {
		out[i] = d.ID
	}
	return out
}

// testReplayInterrupted: a replay cancelled part-way and run again
// publishes every selected letter exactly once.
func (s *suite) testReplayInterrupted(t *testing.T) {
	b := s.open(t)
	_, dlq, bad := s.deadLetterSetup(t, b)
	target := s.topic(t)
	replayed := newRecorder()
	s.subscribe(t, b, target, replayed.handler, group())

	ctx, cancel := context.WithCancel(t.Context())
	first, err := b.ReplayDeadLetters(ctx, dlq, bus.ReplayOptions{To: target, Progress: func(done, _ int) {
		if done == 2 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 2, first.Replayed, "cancelled after two")

	rest, err := b.ReplayDeadLetters(t.Context(), dlq, bus.ReplayOptions{To: target})
	require.NoError(t, err)
	assert.Equal(t, bus.ReplayReport{Selected: len(bad), Replayed: len(bad) - 2, AlreadyReplayed: 2}, rest)
	replayed.waitDistinct(t, s.Timeout, len(bad))
	_, runs := replayed.snapshot()
	for id, n := range runs {
		assert.Equal(t, 1, n, "letter %s replayed %d times", id, n)
	}
}
