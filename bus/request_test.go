package bus_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/internal/testlog"
	"github.com/eventbus-go/eventbus/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openMemory(t *testing.T, logs *testlog.Buffer) *bus.Bus {
	t.Helper()
	opts := memory.Options{}
	if logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b := memBus(t, newBroker(t, opts))
	t.Cleanup(func() { require.NoError(t, b.Close(context.Background())) })
	return b
}

func TestReplyNobodyWaitsForIsDroppedWithALog(t *testing.T) {
	var logs testlog.Buffer
	b := openMemory(t, &logs)
	r, err := b.NewRequester(t.Context(), bus.ReplyTopic("replies"))
	require.NoError(t, err)

	// A reply to a request this requester never made, then a real round trip
	// on the same key: the stray reply neither blocks nor answers it.
	stray := &bus.Message{Key: "k", Header: map[string]string{bus.HeaderReplyTo: "replies", bus.HeaderCorrelationID: "unknown-id"}}
	require.NoError(t, bus.Reply(t.Context(), b, stray, &bus.Message{Payload: []byte("stray")}))
	_, err = b.Subscribe(t.Context(), "questions", func(ctx context.Context, m *bus.Message) error {
		return bus.Reply(ctx, b, m, &bus.Message{Payload: []byte("answer")})
	})
	require.NoError(t, err)
	reply, err := r.Request(t.Context(), "questions", &bus.Message{Key: "k"})
	require.NoError(t, err)
	assert.Equal(t, "answer", string(reply.Payload))
	assert.Contains(t, logs.String(), "dropping a reply no request waits for")
	assert.Contains(t, logs.String(), "correlation_id=unknown-id")
}

func TestReplyToAMessageThatIsNoRequest(t *testing.T) {
	b := openMemory(t, nil)
	err := bus.Reply(t.Context(), b, &bus.Message{ID: "m-1", Topic: "events"}, &bus.Message{})
	require.ErrorIs(t, err, bus.ErrNoReplyTo)
	assert.True(t, bus.IsPermanent(err), "retrying cannot give the message a reply-to header")
	assert.Contains(t, err.Error(), "m-1")
	require.Error(t, bus.Reply(t.Context(), b, nil, &bus.Message{}))
}

func TestBusCloseStopsRequester(t *testing.T) {
	b := memBus(t, newBroker(t, memory.Options{}))
	received := make(chan struct{})
	_, err := b.Subscribe(t.Context(), "questions", func(context.Context, *bus.Message) error {
		close(received)
		return nil
	})
	require.NoError(t, err)
	r, err := b.NewRequester(t.Context())
	require.NoError(t, err)
	result := make(chan error, 1)
	go func() {
		_, err := r.Request(t.Context(), "questions", &bus.Message{})
		result <- err
	}()
	<-received
	require.NoError(t, b.Close(t.Context()))
	require.ErrorIs(t, <-result, bus.ErrClosed)
	require.NoError(t, r.Close(t.Context()))
}

func TestRequesterInput(t *testing.T) {
	b := openMemory(t, nil)
	for name, opt := range map[string]bus.RequesterOption{
		"ReplyTopic":   bus.ReplyTopic(""),
		"ReplyGroup":   bus.ReplyGroup(""),
		"ReplyTimeout": bus.ReplyTimeout(0),
	} {
		_, err := b.NewRequester(t.Context(), opt)
		require.ErrorContains(t, err, name)
	}
	r, err := b.NewRequester(t.Context())
	require.NoError(t, err)
	assert.Contains(t, r.ReplyTopic(), "eventbus.replies.")
	_, err = r.Request(t.Context(), "questions", nil)
	require.ErrorContains(t, err, "message is nil")
	_, err = r.Request(t.Context(), "", &bus.Message{})
	require.ErrorIs(t, err, bus.ErrInvalidTopic)
	_, err = bus.NewRequestTopic(orders, codec.JSON[orderCreated]{}).Serve(t.Context(), b, nil)
	require.ErrorContains(t, err, "handler is nil")
}

func TestDurableReplyGroup(t *testing.T) {
	b := openMemory(t, nil)
	r, err := b.NewRequester(t.Context(), bus.ReplyTopic("replies"), bus.ReplyGroup("requester-1"))
	require.NoError(t, err)
	_, err = b.Subscribe(t.Context(), "questions", func(ctx context.Context, m *bus.Message) error {
		return bus.Reply(ctx, b, m, &bus.Message{Payload: []byte("answer")})
	})
	require.NoError(t, err)
	reply, err := r.Request(t.Context(), "questions", &bus.Message{})
	require.NoError(t, err)
	assert.Equal(t, "requester-1", reply.Group)
}

func TestTypedReplyThatDoesNotDecode(t *testing.T) {
	b := openMemory(t, nil)
	orderRequests := bus.NewRequestTopic(orders, codec.JSON[orderCreated]{})
	_, err := b.Subscribe(t.Context(), orders.Name(), func(ctx context.Context, m *bus.Message) error {
		return bus.Reply(ctx, b, m, &bus.Message{Payload: []byte("not json"), Header: map[string]string{"content-type": "application/json"}})
	})
	require.NoError(t, err)
	r, err := b.NewRequester(t.Context())
	require.NoError(t, err)
	_, reply, err := orderRequests.Request(t.Context(), r, "o-1", orderCreated{ID: "o-1"})
	require.ErrorIs(t, err, bus.ErrDecode)
	assert.Equal(t, "not json", string(reply.Payload), "the undecodable reply is returned for inspection")
}
