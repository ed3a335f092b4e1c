package bustest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (s *suite) testCloseResubscribe(t *testing.T) {
	topic := s.topic(t)
	g := group()
	producer := s.open(t)
	sent := numbered("resume", 100, 10)
	s.publish(t, producer, topic, sent...)

	const inFlight = 8
	first := newRecorder()
	firstBus := s.Open(t)
	stop := make(chan struct{})
	var stopOnce sync.Once
	_, err := firstBus.Subscribe(t.Context(), topic, func(ctx context.Context, m *bus.Message) error {
		if first.record(m) == 1 && first.distinct() == 40 {
			stopOnce.Do(func() { close(stop) })
		}
		return nil
	}, g, bus.MaxInFlight(inFlight), bus.Concurrency(2))
	require.NoError(t, err)
	s.waitClosed(t, stop, "the first member to handle 40 messages")
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	require.NoError(t, firstBus.Close(ctx), "closing the first member's bus")
	_, firstRuns := first.snapshot()

	second := newRecorder()
	s.subscribe(t, s.open(t), topic, second.handler, g)
	second.waitFor(t, s.Timeout, "the rest of the messages", func() bool {
		_, runs := second.snapshot()
		for _, id := range ids(sent) {
			if firstRuns[id] == 0 && runs[id] == 0 {
				return false
			}
		}
		return true
	})
	_, secondRuns := second.snapshot()
	duplicates := 0
	for id := range secondRuns {
		if firstRuns[id] > 0 {
			duplicates++
		}
	}
	t.Logf("first member handled %d, second %d, both %d", len(firstRuns), len(secondRuns), duplicates)
	assert.Zero(t, duplicates, "a graceful close finishes what it received: nothing comes again")
}

// testCloseGivesBackRetrying: a message waiting to retry when its member
// closes is given back at once, never dead-lettered, and the next member
// handles it; the messages the first member finished, also those after
// it in its partition, are not handled again.
func (s *suite) testCloseGivesBackRetrying(t *testing.T) {
	topic := s.topic(t)
	groupName := uniqueName("group")
	producer := s.open(t)
	retrying := &bus.Message{Key: "retrying", Payload: []byte("retrying")}
	others := numbered("other", 50, 10)
	s.publish(t, producer, topic, append([]*bus.Message{retrying}, others...)...)

	first, failed := newRecorder(), make(chan struct{})
	var failOnce sync.Once
	firstBus := s.Open(t)
	_, err := firstBus.Subscribe(t.Context(), topic, func(ctx context.Context, m *bus.Message) error {
		if m.ID == retrying.ID {
			failOnce.Do(func() { close(failed) })
			return errTransient
		}
		first.record(m)
		return nil
	}, bus.Group(groupName), bus.DeadLetter(), bus.Retry(bus.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Hour, MaxBackoff: time.Hour}))
	require.NoError(t, err)
	dead := s.deadLetters(t, producer, topic, groupName)
	s.waitClosed(t, failed, "the first run of the retrying message")
	first.waitDistinct(t, s.Timeout, len(others))
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	require.NoError(t, firstBus.Close(ctx), "closing while a message waits an hour to retry")

	second := newRecorder()
	s.subscribe(t, s.open(t), topic, second.handler, bus.Group(groupName))
	// The marker shares the retrying message's key, so on a partitioned
	// backend it follows everything the second member could get again.
	marker := &bus.Message{Key: retrying.Key, Payload: []byte("marker")}
	s.publish(t, producer, topic, marker)
	second.waitFor(t, s.Timeout, "the given-back message and the marker", func() bool {
		_, runs := second.snapshot()
		return runs[retrying.ID] > 0 && runs[marker.ID] > 0
	})
	msgs, runs := second.snapshot()
	assert.Equal(t, retrying.ID, msgs[0].ID, "the given-back message comes first for its key")
	for _, m := range others {
		assert.Zero(t, runs[m.ID], "message %s, finished by the first member, was handled again", m.Payload)
	}
	assert.Zero(t, dead.distinct(), "shutdown never dead-letters")
}

func (s *suite) testCancelSubscribe(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	g := group()
	r := newRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := b.Subscribe(ctx, topic, r.handler, g)
	require.NoError(t, err)
	s.publish(t, b, topic, numbered("before", 5, 1)...)
	r.waitDistinct(t, s.Timeout, 5)
	cancel()
	s.waitClosed(t, sub.Done(), "the subscription to stop after its context was cancelled")
	assert.NoError(t, sub.Err(), "a requested stop is not a failure")
	assert.NoError(t, sub.Close(context.Background()), "Close after the stop")

	// Nothing published after the stop is lost: the group picks it up.
	after := numbered("after", 5, 1)
	s.publish(t, b, topic, after...)
	next := newRecorder()
	s.subscribe(t, s.open(t), topic, next.handler, g)
	next.waitFor(t, s.Timeout, "messages published after the stop", func() bool {
		_, runs := next.snapshot()
		for _, id := range ids(after) {
			if runs[id] == 0 {
				return false
			}
		}
		return true
	})
}

func (s *suite) testCloseIdempotent(t *testing.T) {
	b := s.Open(t)
	topic := s.topic(t)
	sub, err := b.Subscribe(t.Context(), topic, newRecorder().handler, group())
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, sub.Close(ctx))
	require.NoError(t, sub.Close(ctx), "a second Close of a subscription")
	require.NoError(t, b.Close(ctx))
	require.NoError(t, b.Close(ctx), "a second Close of the bus")
}

func (s *suite) testUseAfterClose(t *testing.T) {
	b := s.Open(t)
	require.NoError(t, b.Close(t.Context()))
	err := b.Publish(t.Context(), s.topic(t), &bus.Message{Payload: []byte("late")})
	require.ErrorIs(t, err, bus.ErrClosed)
	_, err = b.Subscribe(t.Context(), s.topic(t), newRecorder().handler)
	require.ErrorIs(t, err, bus.ErrClosed)
}

func (s *suite) testShutdownWaits(t *testing.T) {
	b := s.Open(t)
	topic := s.topic(t)
	started, release := make(chan struct{}), make(chan struct{})
	var handlerErr error
	handlerDone := make(chan struct{})
	_, err := b.Subscribe(t.Context(), topic, func(ctx context.Context, m *bus.Message) error {
		close(started)
		<-release
		handlerErr = ctx.Err()
		close(handlerDone)
		return nil
	}, group())
	require.NoError(t, err)
	s.publish(t, b, topic, &bus.Message{Payload: []byte("slow")})
	s.waitClosed(t, started, "the handler to start")

	closeBus := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		return b.Close(ctx)
	}
	// Publish refuses with ErrClosed once Close has begun; with no
	// messages it publishes nothing before.
	closing := func() bool { return errors.Is(b.Publish(context.Background(), topic), bus.ErrClosed) }
	require.NoError(t, closeWaits(closeBus, closing, func() { close(release) }, handlerDone, s.Timeout))
	assert.NoError(t, handlerErr, "the handler's context is not cancelled before the deadline")
}

// closeWaitWindow is how long closeWaits holds the handler once Close has
// begun. Nothing signals that Close is blocked waiting, so this window is
// where a Close that does not wait shows itself by returning; a Close that
// waits passes however slow the machine is, and returns only after the
// handler did, which closeWaits checks without any window.
const closeWaitWindow = 200 * time.Millisecond

// closeWaits checks that closeFn, called while a handler is held, returns
// only after that handler has returned. closing reports whether closeFn
// has begun (closeWaits polls it), release lets the handler return, and
// handlerDone is closed by the handler just before it returns. It returns
// what went wrong, or nil.
func closeWaits(closeFn func() error, closing func() bool, release func(), handlerDone <-chan struct{}, timeout time.Duration) error {
	type result struct {
		err             error
		handlerFinished bool // when closeFn returned
	}
	returned := make(chan result, 1)
	go func() {
		err := closeFn()
		returned <- result{err, driver.Closed(handlerDone)}
	}()
	early := func(r result) error {
		return fmt.Errorf("close returned (err: %v) while a handler was running", r.err)
	}
	giveUp := time.After(timeout)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !closing() {
		select {
		case r := <-returned:
			release()
			return early(r)
		case <-poll.C:
		case <-giveUp:
			release()
			return fmt.Errorf("close did not begin within %v", timeout)
		}
	}
	select {
	case r := <-returned:
		release()
		return early(r)
	case <-time.After(closeWaitWindow):
	}
	if driver.Closed(handlerDone) {
		return errors.New("the handler finished before it was released")
	}
	release()
	select {
	case r := <-returned:
		switch {
		case !r.handlerFinished:
			return early(r)
		case r.err != nil:
			return fmt.Errorf("close: %w", r.err)
		}
		return nil
	case <-giveUp:
		return fmt.Errorf("close did not return within %v of the handler's release", timeout)
	}
}

func (s *suite) testShutdownDeadline(t *testing.T) {
	b := s.Open(t)
	topic := s.topic(t)
	g := group()
	started := make(chan struct{})
	var once sync.Once
	_, err := b.Subscribe(t.Context(), topic, func(ctx context.Context, m *bus.Message) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}, g, bus.DeadLetter())
	require.NoError(t, err)
	stuck := &bus.Message{Key: "k", Payload: []byte("stuck")}
	s.publish(t, b, topic, stuck)
	s.waitClosed(t, started, "the handler to start")

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has passed
	err = b.Close(ctx)
	require.ErrorIs(t, err, context.Canceled, "Close reports the handlers it had to cancel")

	// The cancelled message was neither acked nor dead-lettered: the group
	// gets it again.
	again := newRecorder()
	s.subscribe(t, s.open(t), topic, again.handler, g)
	again.waitFor(t, s.Timeout, "the cancelled message to be redelivered", func() bool {
		_, runs := again.snapshot()
		return runs[stuck.ID] > 0
	})
}

func (s *suite) testBadInput(t *testing.T) {
	b := s.open(t)
	ctx := t.Context()
	handler := newRecorder().handler

	err := b.Publish(ctx, "", &bus.Message{})
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
	_, err = b.Subscribe(ctx, "", handler)
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
	_, err = b.Subscribe(ctx, s.topic(t), nil)
	assert.ErrorContains(t, err, "handler is nil")
	_, err = b.Subscribe(ctx, s.topic(t), handler, bus.Concurrency(0))
	assert.ErrorContains(t, err, "Concurrency")
	_, err = b.Subscribe(ctx, s.topic(t), handler, bus.Retry(bus.RetryPolicy{}))
	assert.ErrorContains(t, err, "MaxAttempts")
	err = b.Publish(ctx, s.topic(t), nil)
	assert.ErrorContains(t, err, "message 0 is nil")

	topic := s.topic(t)
	huge := &bus.Message{Payload: make([]byte, 64<<20)}
	err = b.Publish(ctx, topic, huge)
	require.Error(t, err, "a 64 MiB message")
	assert.True(t, errors.Is(err, bus.ErrMessageTooLarge) || strings.Contains(err.Error(), "too large"),
		"the error says the message is too large: %v", err)
}
