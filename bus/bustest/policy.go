package bustest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errTransient = errors.New("transient failure")

func (s *suite) testHandlerErrorRetried(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	var (
		mu       sync.Mutex
		attempts = make(map[string][]int)
	)
	done := newRecorder()
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		attempts[m.ID] = append(attempts[m.ID], m.Attempt)
		n := len(attempts[m.ID])
		mu.Unlock()
		if n < 3 {
			return fmt.Errorf("run %d: %w", n, errTransient)
		}
		done.record(m)
		return nil
	}, group(), fastRetry(5), bus.Concurrency(4))
	sent := numbered("retry", 12, 4)
	s.publish(t, b, topic, sent...)
	done.waitDistinct(t, s.Timeout, len(sent))
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids(sent) {
		assert.Equal(t, []int{1, 2, 3}, attempts[id], "Attempt of %s counts the runs", id)
	}
}

func (s *suite) testRetryHoldsOnlyItsKey(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	const others = 10
	otherDone := newRecorder()
	var slowRuns int
	slowDone := make(chan struct{})
	// One handler at a time: the failing key must not block the others
	// while it waits to retry.
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		if m.Key != "slow" {
			otherDone.record(m)
			return nil
		}
		slowRuns++
		if otherDone.distinct() < others {
			return errTransient
		}
		close(slowDone)
		return nil
	}, group(), bus.Concurrency(1), bus.Retry(bus.RetryPolicy{MaxAttempts: 1000,
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, HoldInterval: 20 * time.Millisecond, Multiplier: 2}))
	msgs := []*bus.Message{{Key: "slow", Payload: []byte("slow")}}
	msgs = append(msgs, numbered("other", others, others)...)
	s.publish(t, b, topic, msgs...)
	s.waitClosed(t, slowDone, "the retried key to succeed after the other keys ran")
	assert.Greater(t, slowRuns, 1, "the slow key was retried while the others ran")
}

func (s *suite) testExhaustedRunsAgain(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	var (
		mu       sync.Mutex
		attempts []int
	)
	done := make(chan struct{})
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, m.Attempt)
		if len(attempts) < 5 {
			return errTransient
		}
		close(done)
		return nil
	}, group(), fastRetry(2))
	s.publish(t, b, topic, &bus.Message{Key: "k", Payload: []byte("stubborn")})
	s.waitClosed(t, done, "a message whose retries ran out to run again")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []int{1, 2, 3, 4, 5}, attempts, "it keeps running, counting its attempts, until it succeeds")
}

// testFailingKeyHoldsOnlyItsKey: a message that keeps failing, with no
// dead-letter topic, holds back its own key only. Every other message is
// handled exactly once, also those in its partition, and the failing
// key's later messages wait behind it.
func (s *suite) testFailingKeyHoldsOnlyItsKey(t *testing.T) {
	for _, concurrency := range []int{1, 8} {
		t.Run(fmt.Sprintf("Concurrency%d", concurrency), func(t *testing.T) {
			b := s.open(t)
			topic := s.topic(t)
			others, stuck := newRecorder(), newRecorder()
			s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
				if m.Key == "stuck" {
					stuck.record(m)
					if string(m.Payload) == "stuck" {
						return errTransient
					}
					return nil
				}
				others.record(m)
				return nil
			}, group(), bus.Concurrency(concurrency), fastRetry(2))
			msgs := []*bus.Message{{Key: "stuck", Payload: []byte("stuck")}}
			msgs = append(msgs, numbered("other", 60, 6)...)
			msgs = append(msgs, &bus.Message{Key: "stuck", Payload: []byte("stuck-later")})
			msgs = append(msgs, numbered("after", 60, 6)...)
			s.publish(t, b, topic, msgs...)
			others.waitDistinct(t, s.Timeout, 120)
			// Let the failing message run a few more times: any
			// redelivery of other keys would show up meanwhile.
			stuck.waitFor(t, s.Timeout, "the failing message to run again", func() bool {
				_, runs := stuck.snapshot()
				return runs[msgs[0].ID] >= 6
			})
			_, runs := others.snapshot()
			for id, n := range runs {
				assert.Equal(t, 1, n, "message %s of another key was handled %d times", id, n)
			}
			stuckMsgs, _ := stuck.snapshot()
			for _, m := range stuckMsgs {
				assert.Equal(t, "stuck", string(m.Payload), "a later message of the failing key ran before it")
			}
		})
	}
}

// deadLetters subscribes to the dead-letter topic of topic and group.
func (s *suite) deadLetters(t *testing.T, b *bus.Bus, topic, groupName string) *recorder {
	r := newRecorder()
	s.subscribe(t, b, bus.DefaultDeadLetterTopic(topic, groupName), r.handler, group())
	return r
}

func (s *suite) testDeadLetter(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	groupName := uniqueName("group")
	var (
		mu         sync.Mutex
		poisonRuns int
	)
	good := newRecorder()
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		if m.Key == "poison" {
			mu.Lock()
			poisonRuns++
			mu.Unlock()
			return fmt.Errorf("boom on %s", m.ID)
		}
		good.record(m)
		return nil
	}, bus.Group(groupName), fastRetry(3), bus.DeadLetter(), bus.Concurrency(4))
	dead := s.deadLetters(t, s.open(t), topic, groupName)

	poison := &bus.Message{Key: "poison", Payload: []byte{0xde, 0xad}, Header: map[string]string{"tenant": "acme"}}
	rest := numbered("good", 10, 5)
	s.publish(t, b, topic, append([]*bus.Message{poison}, rest...)...)
	good.waitDistinct(t, s.Timeout, len(rest))
	dead.waitDistinct(t, s.Timeout, 1)

	letters, _ := dead.snapshot()
	letter := letters[0]
	assert.Equal(t, poison.ID, letter.ID)
	assert.Equal(t, "poison", letter.Key)
	assert.Equal(t, poison.Payload, letter.Payload)
	h := letter.Header
	assert.Equal(t, "acme", h["tenant"], "the original headers travel unchanged")
	assert.Equal(t, "boom on "+poison.ID, h[bus.HeaderDeadLetterError])
	assert.Equal(t, "3", h[bus.HeaderDeadLetterAttempts])
	assert.Equal(t, "false", h[bus.HeaderDeadLetterPermanent])
	assert.Equal(t, topic, h[bus.HeaderDeadLetterOriginalTopic])
	assert.Equal(t, groupName, h[bus.HeaderDeadLetterGroup])
	first, err1 := time.Parse(time.RFC3339Nano, h[bus.HeaderDeadLetterFirstFailure])
	last, err2 := time.Parse(time.RFC3339Nano, h[bus.HeaderDeadLetterLastFailure])
	require.NoError(t, err1)
	require.NoError(t, err2)
	assert.False(t, last.Before(first), "first failure %v, last %v", first, last)
	if p, ok := h[bus.HeaderDeadLetterPartition]; ok {
		_, err := strconv.Atoi(p)
		assert.NoError(t, err, "partition header")
	}
	if o, ok := h[bus.HeaderDeadLetterOffset]; ok {
		_, err := strconv.ParseInt(o, 10, 64)
		assert.NoError(t, err, "offset header")
	}
	mu.Lock()
	assert.Equal(t, 3, poisonRuns, "retried up to MaxAttempts, then dead-lettered")
	mu.Unlock()
}

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

func (s *suite) testDecodeFailure(t *testing.T) {
	b := s.open(t)
	orders := bus.NewTopic(s.topic(t), codec.JSON[order]{})
	groupName := uniqueName("group")
	decoded, typed := s.typedReceiver(t, b, orders.Name(), bus.Group(groupName), fastRetry(5), bus.DeadLetter())
	dead := s.deadLetters(t, s.open(t), orders.Name(), groupName)

	broken, err := orders.Message("o-1", order{ID: "o-1"})
	require.NoError(t, err)
	broken.Payload = []byte(`{"id": "o-1", "total": `)
	require.NoError(t, orders.Publish(t.Context(), b, "o-2", order{ID: "o-2", Total: 42}))
	s.publish(t, b, orders.Name(), broken)

	decoded.waitDistinct(t, s.Timeout, 1)
	dead.waitDistinct(t, s.Timeout, 1)
	letters, _ := dead.snapshot()
	h := letters[0].Header
	assert.Equal(t, broken.Payload, letters[0].Payload, "the original bytes")
	assert.Equal(t, "1", h[bus.HeaderDeadLetterAttempts], "no retries for a payload that cannot decode")
	assert.Equal(t, "true", h[bus.HeaderDeadLetterPermanent])
	assert.Contains(t, h[bus.HeaderDeadLetterError], bus.ErrDecode.Error())
	assert.Equal(t, "application/json", h["content-type"])
	assert.Equal(t, []order{{ID: "o-2", Total: 42}}, typed())
}

func (s *suite) testPanic(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	groupName := uniqueName("group")
	good := newRecorder()
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		if m.Key == "panics" {
			panic("handler bug")
		}
		good.record(m)
		return nil
	}, bus.Group(groupName), fastRetry(2), bus.DeadLetter())
	dead := s.deadLetters(t, s.open(t), topic, groupName)
	s.publish(t, b, topic, &bus.Message{Key: "panics"})
	rest := numbered("after", 5, 1)
	s.publish(t, b, topic, rest...)
	good.waitDistinct(t, s.Timeout, len(rest))
	dead.waitDistinct(t, s.Timeout, 1)
	letters, _ := dead.snapshot()
	text := letters[0].Header[bus.HeaderDeadLetterError]
	assert.Contains(t, text, "handler panicked: handler bug")
	assert.Contains(t, text, "goroutine", "the error carries the stack")
	assert.Equal(t, "2", letters[0].Header[bus.HeaderDeadLetterAttempts])
}
