// Package bustest is the conformance suite every eventbus driver must pass,
// exported like net/http/httptest so that any backend can run it:
//
//	func TestConformance(t *testing.T) {
//		bustest.Run(t, bustest.Harness{
//			Open: func(t *testing.T) *bus.Bus { ... },
//		})
//	}
//
// It checks the promises package bus makes on every backend: round trips,
// isolation of topics and groups, work split within a group, per-key order
// under concurrency, retries, dead letters, redelivery, panics, shutdown,
// bad input and request/reply; with Harness.PublishForeign, also what it
// reads from producers that are not eventbus. With Harness.OpenConn set it
// also runs the driver section, which checks the contract of package
// bus/driver on the driver.Conn itself.
package bustest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/require"
)

// Harness connects the suite to a backend.
type Harness struct {
	// Open returns a new bus on the backend under test. Each call is a new
	// connection to the same backend, as another process would make; the
	// suite closes it.
	Open func(t *testing.T) *bus.Bus
	// NewTopic returns a fresh topic name, created with several partitions
	// where the backend has them. Nil means a random name, created on
	// first use.
	NewTopic func(t *testing.T) string
	// Timeout bounds each wait for deliveries; 0 means one minute.
	Timeout time.Duration
	// PublishForeign publishes one message to topic as a producer that is
	// not eventbus would, with the backend's own client: payload as the
	// body, header exactly as the record's headers (Kafka) or properties
	// (Pulsar), nothing added: no ce_* headers, no ID, no event time. The
	// cases of messages from other producers (plain records, CloudEvents
	// binary and structured mode) run only when it is set.
	PublishForeign func(t *testing.T, topic, key string, payload []byte, header map[string]string)
	// OpenConn, when set, runs the driver section: cases named Driver/...
	// that call a driver.Conn directly and check the contract written in
	// package bus/driver. Each call is a new connection to the same
	// backend; the suite closes it.
	OpenConn func(t *testing.T) driver.Conn
	// ConnAs holds a pointer to each native type the driver documents for
	// Conn.As (and so Bus.As), such as new(*kafka.Producer).
	ConnAs []any
	// MessageAs holds a pointer to each native type the driver documents
	// for Message.As, such as new(*kafka.Message): a delivery's
	// Receipt.Native must be assignable to each.
	MessageAs []any
	// NoCreateTopic leaves out the case that creates topics through
	// Bus.CreateTopic, for a test backend that cannot (librdkafka's mock
	// cluster creates topics only through metadata requests).
	NoCreateTopic bool
	// Transactions tells that the backend serves bus.Transactional; when
	// false, the suite checks that it refuses them with ErrUnsupported.
	Transactions bool
}

type suite struct {
	Harness
}

// Run runs the conformance suite as parallel subtests of t.
func Run(t *testing.T, h Harness) {
	require.NotNil(t, h.Open, "Harness.Open is required")
	if h.Timeout == 0 {
		h.Timeout = time.Minute
	}
	s := &suite{h}
	tests := []namedTest{
		{"RoundTrip", s.testRoundTrip},
		{"TopicsDoNotCrossTalk", s.testNoCrossTalk},
		{"PublishBeforeSubscribe", s.testPublishBeforeSubscribe},
		{"EveryGroupGetsEverything", s.testTwoGroups},
		{"GroupMembersSplitWork", s.testMembersSplit},
		{"EphemeralStartsAtLatest", s.testEphemeralStartsAtLatest},
		{"PerKeyOrderUnderConcurrency", s.testPerKeyOrder},
		{"RetryHoldsBackOnlyItsKey", s.testRetryHoldsOnlyItsKey},
		{"HandlerErrorIsRetried", s.testHandlerErrorRetried},
		{"ExhaustedWithoutDeadLetterRunsAgain", s.testExhaustedRunsAgain},
		{"FailingKeyHoldsBackOnlyItsKey", s.testFailingKeyHoldsOnlyItsKey},
		{"RetriesThenDeadLetter", s.testDeadLetter},
		{"DecodeFailureDeadLettersWithoutRetry", s.testDecodeFailure},
		{"PanicIsRecovered", s.testPanic},
		{"CloseAndResubscribeLosesNothing", s.testCloseResubscribe},
		{"CloseGivesBackRetryingMessage", s.testCloseGivesBackRetrying},
		{"CancelSubscribeContextStops", s.testCancelSubscribe},
		{"CloseIsIdempotent", s.testCloseIdempotent},
		{"UseAfterClose", s.testUseAfterClose},
		{"ConcurrentPublishers", s.testConcurrentPublishers},
		{"ShutdownWaitsForHandlers", s.testShutdownWaits},
		{"ShutdownDeadlineCancelsHandlers", s.testShutdownDeadline},
		{"BadInput", s.testBadInput},
		{"PublishWithDoneContextPublishesNothing", s.testPublishDoneContext},
		{"CloseWithDoneContextAndNothingPending", s.testCloseDoneContext},
		{"RequestReply", s.testRequestReply},
		{"TypedRequestReply", s.testTypedRequestReply},
		{"ConcurrentRequests", s.testConcurrentRequests},
		{"RequestTimeout", s.testRequestTimeout},
		{"LateReplyDropped", s.testLateReplyDropped},
		{"RequesterCloseFailsPending", s.testRequesterCloseFailsPending},
		{"Transactional", s.testTransactional},
		{"DelaysAndRetryStages", s.testDelaysAndRetryStages},
	}
	if h.OpenConn != nil {
		tests = append(tests, s.driverTests()...)
	}
	if h.PublishForeign != nil {
		tests = append(tests, s.foreignTests()...)
	}
	tests = append(tests, s.toolTests()...)
	runParallel(t, tests)
}

// namedTest is a subtest of a suite.
type namedTest struct {
	name string
	run  func(t *testing.T)
}

// runParallel runs tests as parallel subtests of t.
func runParallel(t *testing.T, tests []namedTest) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t)
		})
	}
}

// open returns a bus closed at the end of the test.
func (s *suite) open(t *testing.T) *bus.Bus {
	t.Helper()
	b := s.Open(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
	return b
}

func (s *suite) topic(t *testing.T) string {
	if s.NewTopic != nil {
		return s.NewTopic(t)
	}
	return uniqueName("bustest")
}

func uniqueName(prefix string) string {
	return prefix + "-" + rand.Text()[:12]
}

func group() bus.SubscribeOption { return bus.Group(uniqueName("group")) }

// fastRetry keeps retry tests quick.
func fastRetry(attempts int) bus.SubscribeOption {
	return bus.Retry(bus.RetryPolicy{MaxAttempts: attempts, InitialBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Multiplier: 2})
}

func (s *suite) publish(t *testing.T, b *bus.Bus, topic string, msgs ...*bus.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	require.NoError(t, b.Publish(ctx, topic, msgs...))
}

func (s *suite) subscribe(t *testing.T, b *bus.Bus, topic string, h bus.Handler, opts ...bus.SubscribeOption) *bus.Subscription {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, h, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		_ = sub.Close(ctx)
	})
	return sub
}

// numbered returns n messages with keys cycling over keys distinct values
// and payloads "<prefix>-<i>".
func numbered(prefix string, n, keys int) []*bus.Message {
	msgs := make([]*bus.Message, n)
	for i := range msgs {
		msgs[i] = &bus.Message{Key: fmt.Sprintf("key-%d", i%keys), Payload: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	return msgs
}

// recorder collects deliveries and lets a test wait for a condition on
// them without polling.
type recorder struct {
	mu      sync.Mutex
	msgs    []*bus.Message
	runs    map[string]int // handler runs per message ID
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{runs: make(map[string]int), changed: make(chan struct{})}
}

// record notes m and returns how many times its ID was seen, this one
// included.
func (r *recorder) record(m *bus.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	r.runs[m.ID]++
	close(r.changed)
	r.changed = make(chan struct{})
	return r.runs[m.ID]
}

func (r *recorder) handler(_ context.Context, m *bus.Message) error {
	r.record(m)
	return nil
}

// distinct is the number of different message IDs seen.
func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

func (r *recorder) snapshot() ([]*bus.Message, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	runs := make(map[string]int, len(r.runs))
	for id, n := range r.runs {
		runs[id] = n
	}
	return append([]*bus.Message(nil), r.msgs...), runs
}

// waitFor waits until cond holds, re-checking after every delivery.
func (r *recorder) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			require.FailNowf(t, "timed out", "waiting %v for %s", timeout, what)
		}
	}
}

// waitDistinct waits until n different messages were seen.
func (r *recorder) waitDistinct(t *testing.T, timeout time.Duration, n int) {
	t.Helper()
	r.waitFor(t, timeout, fmt.Sprintf("%d distinct messages", n), func() bool { return r.distinct() >= n })
}

func ids(msgs []*bus.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// waitClosed waits for ch with the suite's timeout.
func (s *suite) waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(s.Timeout):
		require.FailNowf(t, "timed out", "waiting %v for %s", s.Timeout, what)
	}
}
