package bustest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// The driver section checks the contract written in package bus/driver by
// calling a driver.Conn directly, beneath package bus and its checks, the
// way Go CDK's drivertest does.

// ctxSlack is how long after its ctx ends a call may take to return.
const ctxSlack = time.Second

func (s *suite) driverTests() []namedTest {
	return []namedTest{
		{"Driver/PublishAndReceive", s.testConnRoundTrip},
		{"Driver/PublishWithDoneContextPublishesNothing", s.testConnPublishDoneContext},
		{"Driver/PublishReportsPerMessage", s.testConnPartialFailure},
		{"Driver/PublishCancelledPartWayReportsPerMessage", s.testConnPublishCancelledPartWay},
		{"Driver/SizeLimitMatchesTheClient", s.testConnSizeLimit},
		{"Driver/InvalidTopic", s.testConnInvalidTopic},
		{"Driver/ConcurrentPublishSubscribeReceive", s.testConnConcurrent},
		{"Driver/ReceiveHonoursContext", s.testConnReceiveContext},
		{"Driver/CloseReportsOnlyRealProblems", s.testConnClose},
		{"Driver/As", s.testConnAs},
		{"Driver/NackRedeliversOnlyItsMessageAfterItsDelay", s.testConnNackDelay},
		{"Driver/SettlingTwiceOrAfterCloseDoesNothing", s.testConnSettleStale},
		{"Driver/StopReceivingLeavesNacksToTheGroup", s.testConnStopReceiving},
		{"Driver/UnknownOptionIsRefused", s.testConnUnknownOption},
	}
}

// unknownOption is a driver option no driver knows.
type unknownOption struct{}

// testConnUnknownOption: Subscribe refuses a driver option it does not
// know with an error wrapping ErrUnsupported that names its type, for a
// group and for an ephemeral subscription.
func (s *suite) testConnUnknownOption(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	for _, group := range []string{uniqueName("group"), ""} {
		ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
		sub, err := c.Subscribe(ctx, topic, driver.SubscribeConfig{Group: group, Options: []any{unknownOption{}}})
		cancel()
		if err == nil {
			assert.NoError(t, sub.Close(context.Background()))
		}
		require.ErrorIs(t, err, driver.ErrUnsupported, "group %q", group)
		assert.ErrorContains(t, err, "bustest.unknownOption")
	}
}

// openConn returns a driver connection closed at the end of the test.
func (s *suite) openConn(t *testing.T) driver.Conn {
	t.Helper()
	c := s.OpenConn(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		assert.NoError(t, c.Close(ctx))
	})
	return c
}

// connSubscribe subscribes a new group and closes it at the end of the test.
func (s *suite) connSubscribe(t *testing.T, c driver.Conn, topic string) driver.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	sub, err := c.Subscribe(ctx, topic, driver.SubscribeConfig{Group: uniqueName("group")})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		assert.NoError(t, sub.Close(ctx))
	})
	return sub
}

// receiveN receives and acks deliveries until n arrived, and returns them.
func (s *suite) receiveN(t *testing.T, sub driver.Subscription, n int) []driver.Delivery {
	t.Helper()
	got := s.receiveHeld(t, sub, n)
	for i := range got {
		require.NoError(t, sub.Ack(&got[i].Receipt))
	}
	return got
}

func driverMessages(prefix string, n int) []driver.Message {
	now := time.Now().Round(0)
	msgs := make([]driver.Message, n)
	for i := range msgs {
		msgs[i] = driver.Message{
			ID:      fmt.Sprintf("%s-id-%d", prefix, i),
			Key:     "one-key", // one key: one partition, in order
			Payload: fmt.Appendf(nil, "%s-%d", prefix, i),
			Header:  map[string]string{"x-index": fmt.Sprint(i)},
			Time:    now.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return msgs
}

func (s *suite) testConnRoundTrip(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	sub := s.connSubscribe(t, c, topic)
	sent := driverMessages("round", 3)
	require.NoError(t, c.Publish(t.Context(), topic, sent))
	got := s.receiveN(t, sub, len(sent))
	for i, d := range got {
		want := sent[i]
		assert.Equal(t, want.ID, d.ID)
		assert.Equal(t, want.Key, d.Key)
		assert.Equal(t, want.Payload, d.Payload)
		assert.Equal(t, want.Header, normalize(d.Header), "user headers only, unchanged")
		assert.WithinDuration(t, want.Time, d.Time, time.Millisecond)
		assert.GreaterOrEqual(t, d.Attempt, 0)
	}
}

// testConnPublishDoneContext: a Publish whose ctx is already done returns
// an error wrapping ctx.Err() and publishes nothing, so a caller that
// retries duplicates nothing. A marker published afterwards with the same
// key is the first delivery.
func (s *suite) testConnPublishDoneContext(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	sub := s.connSubscribe(t, c, topic)
	// The topic and producer exist already: nothing is left to fail first.
	require.NoError(t, c.Publish(t.Context(), topic, driverMessages("warm-up", 1)))
	s.receiveN(t, sub, 1)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Publish(ctx, topic, driverMessages("cancelled", 5))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	var perMessage driver.MessageErrors
	if errors.As(err, &perMessage) {
		for i, e := range perMessage {
			assert.ErrorIs(t, e, context.Canceled, "message %d", i)
		}
	}

	marker := driverMessages("marker", 1)
	require.NoError(t, c.Publish(t.Context(), topic, marker))
	got := s.receiveN(t, sub, 1)
	assert.Equal(t, string(marker[0].Payload), string(got[0].Payload), "a message of the cancelled Publish was published")
}

// testConnPartialFailure: a message the backend refuses as too large fails
// alone, with an entry wrapping ErrMessageTooLarge; the others are
// published.
func (s *suite) testConnPartialFailure(t *testing.T) {
	c := s.openConn(t)
	limit := c.Capabilities().MaxMessageBytes
	if limit == 0 {
		t.Skip("the backend has no message size limit") // a property of the backend, not of the environment
	}
	topic := s.topic(t)
	sub := s.connSubscribe(t, c, topic)
	msgs := driverMessages("partial", 3)
	msgs[1].Payload = make([]byte, 2*limit+1)
	err := c.Publish(t.Context(), topic, msgs)
	var perMessage driver.MessageErrors
	require.ErrorAs(t, err, &perMessage)
	require.Len(t, perMessage, len(msgs))
	assert.NoError(t, perMessage[0])
	assert.ErrorIs(t, perMessage[1], driver.ErrMessageTooLarge)
	assert.NoError(t, perMessage[2])
	got := s.receiveN(t, sub, 2)
	assert.Equal(t, []string{msgs[0].ID, msgs[2].ID}, []string{got[0].ID, got[1].ID})
}

// testConnPublishCancelledPartWay cancels a long Publish as soon as its
// first message is delivered. Whatever the timing, the result is nil or
// one entry per message, each failed one wrapping context.Canceled, and
// every message reported published is delivered.
func (s *suite) testConnPublishCancelledPartWay(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	sub := s.connSubscribe(t, c, topic)
	msgs := driverMessages("part-way", 2000)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	published := make(chan error, 1)
	go func() { published <- c.Publish(ctx, topic, msgs) }()

	delivered := map[string]bool{}
	first := s.receiveN(t, sub, 1)
	delivered[first[0].ID] = true
	cancel()
	var err error
	select {
	case err = <-published:
	case <-time.After(s.Timeout):
		require.FailNow(t, "Publish did not return after its ctx was cancelled")
	}
	want := map[string]bool{}
	if err == nil {
		for _, m := range msgs {
			want[m.ID] = true
		}
	} else {
		var perMessage driver.MessageErrors
		require.ErrorAs(t, err, &perMessage, "a Publish that ended part-way reports per message")
		require.Len(t, perMessage, len(msgs))
		for i, e := range perMessage {
			if e == nil {
				want[msgs[i].ID] = true
			} else {
				assert.ErrorIs(t, e, context.Canceled, "message %d", i)
			}
		}
	}
	t.Logf("%d of %d messages confirmed before the cancel", len(want), len(msgs))
	batch := make([]driver.Delivery, 64)
	rctx, rcancel := context.WithTimeout(t.Context(), s.Timeout)
	defer rcancel()
	for missing := len(want) - countIn(delivered, want); missing > 0; missing = len(want) - countIn(delivered, want) {
		k, err := sub.Receive(rctx, batch)
		require.NoError(t, err, "%d messages reported published were not delivered", missing)
		for i := range batch[:k] {
			delivered[batch[i].ID] = true
			require.NoError(t, sub.Ack(&batch[i].Receipt))
		}
	}
}

func countIn(have, want map[string]bool) int {
	n := 0
	for id := range want {
		if have[id] {
			n++
		}
	}
	return n
}

// testConnSizeLimit: a message of MaxMessageBytes is accepted as one
// payload; as four large headers it is accepted too, or refused per
// message with ErrMessageTooLarge where the client counts headers
// differently, never failed by the client for another reason.
func (s *suite) testConnSizeLimit(t *testing.T) {
	c := s.openConn(t)
	limit := c.Capabilities().MaxMessageBytes
	if limit == 0 {
		t.Skip("the backend has no message size limit")
	}
	topic := s.topic(t)
	sub := s.connSubscribe(t, c, topic)
	payload := driver.Message{ID: "payload-at-limit", Key: "k"}
	payload.Payload = make([]byte, limit-payload.Size())
	require.Equal(t, limit, payload.Size())
	require.NoError(t, c.Publish(t.Context(), topic, []driver.Message{payload}), "a message of MaxMessageBytes")

	headers := driver.Message{ID: "headers-at-limit", Key: "k", Header: map[string]string{}}
	for i := range 4 {
		name := fmt.Sprintf("x-large-%d", i)
		headers.Header[name] = strings.Repeat("h", (limit-len(headers.ID)-len(headers.Key))/4-len(name))
	}
	require.LessOrEqual(t, headers.Size(), limit)
	err := c.Publish(t.Context(), topic, []driver.Message{headers})
	want := 1
	if err != nil {
		var perMessage driver.MessageErrors
		require.ErrorAs(t, err, &perMessage)
		require.ErrorIs(t, perMessage[0], driver.ErrMessageTooLarge)
		t.Logf("four large headers refused: %v", perMessage[0])
	} else {
		want = 2
	}
	got := s.receiveN(t, sub, want)
	assert.Equal(t, payload.ID, got[0].ID)
	assert.Len(t, got[0].Payload, len(payload.Payload))
}

// testConnInvalidTopic: a name of four segments is valid for package bus
// but no backend's topic; every driver says so with ErrInvalidTopic.
func (s *suite) testConnInvalidTopic(t *testing.T) {
	c := s.openConn(t)
	bad := "a/b/c/" + uniqueName("d")
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	err := c.Publish(ctx, bad, driverMessages("bad", 1))
	assert.ErrorIs(t, err, driver.ErrInvalidTopic, "Publish to %q", bad)
	_, err = c.Subscribe(ctx, bad, driver.SubscribeConfig{Group: uniqueName("group")})
	assert.ErrorIs(t, err, driver.ErrInvalidTopic, "Subscribe to %q", bad)
}

// testConnConcurrent publishes from several goroutines while two groups
// subscribe and receive, acking from other goroutines; every group gets
// every message. Run with -race.
func (s *suite) testConnConcurrent(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	const publishers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, publishers+2)
	subs := make([]driver.Subscription, 2)
	subErrs := make([]error, len(subs))
	for i := range subs {
		wg.Go(func() {
			subs[i], subErrs[i] = c.Subscribe(t.Context(), topic, driver.SubscribeConfig{Group: uniqueName("group")})
		})
	}
	wg.Wait()
	for i, sub := range subs {
		require.NoError(t, subErrs[i], "concurrent Subscribe")
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
			defer cancel()
			assert.NoError(t, sub.Close(ctx))
		})
	}
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				msgs := driverMessages(fmt.Sprintf("p%d-%d", p, i), 1)
				if err := c.Publish(t.Context(), topic, msgs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, sub := range subs {
		wg.Go(func() {
			acks := make(chan driver.Receipt, 64)
			var acked sync.WaitGroup
			acked.Go(func() {
				for r := range acks {
					if err := sub.Ack(&r); err != nil {
						errs <- err
					}
				}
			})
			defer acked.Wait()
			defer close(acks)
			ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
			defer cancel()
			seen := map[string]bool{}
			batch := make([]driver.Delivery, 16)
			for len(seen) < publishers*each {
				k, err := sub.Receive(ctx, batch)
				if err != nil {
					errs <- fmt.Errorf("after %d messages: %w", len(seen), err)
					return
				}
				for i := range batch[:k] {
					seen[batch[i].ID] = true
					acks <- batch[i].Receipt
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// testConnReceiveContext: Receive on an idle topic returns ctx.Err() when
// its ctx ends, within a second.
func (s *suite) testConnReceiveContext(t *testing.T) {
	c := s.openConn(t)
	sub := s.connSubscribe(t, c, s.topic(t))
	const wait = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	start := time.Now()
	_, err := sub.Receive(ctx, make([]driver.Delivery, 1))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), wait+ctxSlack)
}

// testConnClose: with nothing pending, Close returns nil even with a done
// ctx; a second Close returns nil; Publish and Subscribe then fail with
// ErrClosed.
func (s *suite) testConnClose(t *testing.T) {
	c := s.OpenConn(t)
	topic := s.topic(t)
	require.NoError(t, c.Publish(t.Context(), topic, driverMessages("before-close", 2)))
	done, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NoError(t, c.Close(done), "Close with nothing pending reports nothing, even past its deadline")
	assert.NoError(t, c.Close(t.Context()), "a second Close")
	err := c.Publish(t.Context(), topic, driverMessages("after-close", 1))
	assert.ErrorIs(t, err, driver.ErrClosed)
	_, err = c.Subscribe(t.Context(), topic, driver.SubscribeConfig{Group: uniqueName("group")})
	assert.ErrorIs(t, err, driver.ErrClosed)
}

// testConnAs: As fills every documented native type, refuses any other
// without touching it, and a delivery's Native is of each documented
// message type.
func (s *suite) testConnAs(t *testing.T) {
	c := s.openConn(t)
	for _, target := range s.ConnAs {
		require.True(t, c.As(target), "As(%T)", target)
		assert.False(t, reflect.ValueOf(target).Elem().IsZero(), "As(%T) set nothing", target)
	}
	var other *testing.T
	assert.False(t, c.As(&other), "As(**testing.T)")
	assert.Nil(t, other)
	assert.False(t, c.As(nil), "As(nil)")

	if len(s.MessageAs) == 0 {
		return
	}
	topic := s.topic(t)
	sub := s.connSubscribe(t, c, topic)
	require.NoError(t, c.Publish(t.Context(), topic, driverMessages("as", 1)))
	d := s.receiveN(t, sub, 1)[0]
	require.NotNil(t, d.Native, "Receipt.Native")
	for _, target := range s.MessageAs {
		want := reflect.TypeOf(target).Elem()
		assert.True(t, reflect.TypeOf(d.Native).AssignableTo(want), "Native %T is not a %v", d.Native, want)
	}
}
