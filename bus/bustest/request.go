package bustest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requester returns a requester on b, closed at the end of the test.
func (s *suite) requester(t *testing.T, b *bus.Bus, opts ...bus.RequesterOption) *bus.Requester {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	r, err := b.NewRequester(context.WithoutCancel(ctx), opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		assert.NoError(t, r.Close(ctx))
	})
	return r
}

// echo answers every request with "re:<payload>" and the request's key.
func echo(b *bus.Bus) bus.Handler {
	return func(ctx context.Context, m *bus.Message) error {
		return bus.Reply(ctx, b, m, &bus.Message{Payload: append([]byte("re:"), m.Payload...)})
	}
}

func (s *suite) request(t *testing.T, r *bus.Requester, topic string, m *bus.Message) *bus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	reply, err := r.Request(ctx, topic, m)
	require.NoError(t, err)
	return reply
}

func (s *suite) testRequestReply(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	responder := s.open(t)
	s.subscribe(t, responder, topic, echo(responder), group())
	// The default reply topic: a new one named by the requester.
	r := s.requester(t, b)

	request := &bus.Message{Key: "k1", Payload: []byte("ping"), Header: map[string]string{"trace": "t-1"}}
	reply := s.request(t, r, topic, request)
	assert.Equal(t, "re:ping", string(reply.Payload))
	assert.Equal(t, "k1", reply.Key, "the reply keeps the request's key")
	assert.Equal(t, r.ReplyTopic(), reply.Topic)
	assert.Equal(t, r.ReplyTopic(), request.Header[bus.HeaderReplyTo])
	assert.NotEmpty(t, request.Header[bus.HeaderCorrelationID])
	assert.Equal(t, request.Header[bus.HeaderCorrelationID], reply.Header[bus.HeaderCorrelationID])
	assert.Equal(t, "t-1", request.Header["trace"], "the request's own headers stay")
	assert.NotEqual(t, request.ID, reply.ID)
}

type question struct {
	Text string `json:"text"`
}

type answer struct {
	Text   string `json:"text"`
	Length int    `json:"length"`
}

func (s *suite) testTypedRequestReply(t *testing.T) {
	b := s.open(t)
	questions := bus.NewRequestTopic(bus.NewTopic(s.topic(t), codec.JSON[question]{}), codec.JSON[answer]{}).
		WithReplyType("com.example.answer")
	_, err := questions.Serve(t.Context(), s.open(t), func(ctx context.Context, m *bus.Message, q question) (answer, error) {
		return answer{Text: "re:" + q.Text, Length: len(q.Text)}, nil
	}, group())
	require.NoError(t, err)
	r := s.requester(t, b, bus.ReplyTopic(s.topic(t)))

	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	got, reply, err := questions.Request(ctx, r, "q1", question{Text: "why"})
	require.NoError(t, err)
	assert.Equal(t, answer{Text: "re:why", Length: 3}, got)
	assert.Equal(t, "q1", reply.Key)
	assert.Equal(t, "com.example.answer", reply.Header["ce_type"])
	assert.Equal(t, "application/json", reply.Header["content-type"])
}

func (s *suite) testConcurrentRequests(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	g := group()
	for range 2 {
		responder := s.open(t)
		s.subscribe(t, responder, topic, echo(responder), g, bus.Concurrency(8))
	}
	r := s.requester(t, b, bus.ReplyTopic(s.topic(t)))

	const n = 200
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	replies := make([]*bus.Message, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			replies[i], errs[i] = r.Request(ctx, topic, &bus.Message{Key: fmt.Sprintf("key-%d", i%16), Payload: fmt.Appendf(nil, "request-%d", i)})
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "request %d", i)
		assert.Equal(t, fmt.Sprintf("re:request-%d", i), string(replies[i].Payload), "request %d got its own reply", i)
		assert.Equal(t, fmt.Sprintf("key-%d", i%16), replies[i].Key)
	}
}

func (s *suite) testRequestTimeout(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	r := s.requester(t, b, bus.ReplyTopic(s.topic(t)), bus.ReplyTimeout(500*time.Millisecond))
	s.publish(t, b, topic, &bus.Message{Payload: []byte("warm-up")}) // the timeout includes the publish

	// Nobody answers: the requester's ReplyTimeout ends the wait.
	_, err := r.Request(t.Context(), topic, &bus.Message{Payload: []byte("anyone?")})
	require.ErrorIs(t, err, bus.ErrNoReply)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A cancelled context ends it too. (The request may be received before
	// its Publish returned, so the error may come from the publish.) This
	// requester waits for the responder to join its group.
	r = s.requester(t, b, bus.ReplyTopic(s.topic(t)))
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	responder := s.open(t)
	s.subscribe(t, responder, topic, func(_ context.Context, m *bus.Message) error {
		if m.Key == "cancel" {
			cancel()
		}
		return nil
	}, group())
	_, err = r.Request(ctx, topic, &bus.Message{Key: "cancel", Payload: []byte("never mind")})
	require.ErrorIs(t, err, context.Canceled)
}

func (s *suite) testLateReplyDropped(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	timedOut, lateSent := make(chan struct{}), make(chan struct{})
	responder := s.open(t)
	s.subscribe(t, responder, topic, func(ctx context.Context, m *bus.Message) error {
		if string(m.Payload) == "slow" {
			<-timedOut
			defer close(lateSent)
		}
		return echo(responder)(ctx, m)
	}, group())
	r := s.requester(t, b, bus.ReplyTopic(s.topic(t)))
	s.request(t, r, topic, &bus.Message{Key: "k", Payload: []byte("warm-up")})

	// The timeout includes the publish, quick once warmed up.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := r.Request(ctx, topic, &bus.Message{Key: "k", Payload: []byte("slow")})
	require.ErrorIs(t, err, bus.ErrNoReply)
	close(timedOut)
	s.waitClosed(t, lateSent, "the late reply to be published")

	// The late reply, on the same key, is dropped without holding back the
	// next request's reply or being mistaken for it.
	reply := s.request(t, r, topic, &bus.Message{Key: "k", Payload: []byte("fast")})
	assert.Equal(t, "re:fast", string(reply.Payload))
}

func (s *suite) testRequesterCloseFailsPending(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	received := newRecorder()
	s.subscribe(t, s.open(t), topic, received.handler, group()) // never answers
	r, err := b.NewRequester(t.Context(), bus.ReplyTopic(s.topic(t)))
	require.NoError(t, err)

	const n = 5
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := r.Request(t.Context(), topic, &bus.Message{Payload: fmt.Appendf(nil, "pending-%d", i)})
			errs <- err
		}()
	}
	// A received request was registered before it was published.
	received.waitDistinct(t, s.Timeout, n)
	require.NoError(t, r.Close(t.Context()))
	for range n {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, bus.ErrClosed)
		case <-time.After(s.Timeout):
			require.FailNow(t, "a pending request did not return after Close")
		}
	}
	_, err = r.Request(t.Context(), topic, &bus.Message{Payload: []byte("after close")})
	require.ErrorIs(t, err, bus.ErrClosed)
	require.NoError(t, r.Close(t.Context()), "a second Close")
}
