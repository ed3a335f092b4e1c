package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/bus/driver"
	_ "github.com/eventbus-go/eventbus/memory"
)

func TestStructuredModeRoundTrip(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://", bus.StructuredMode())
	require.NoError(t, err)
	defer b.Close(context.Background())
	orders := bus.NewTopic("orders", codec.JSON[orderCreated]{})
	got := make(chan *bus.Message, 1)
	typed := make(chan orderCreated, 1)
	sub, err := orders.Subscribe(t.Context(), b, func(_ context.Context, m *bus.Message, o orderCreated) error {
		got <- m
		typed <- o
		return nil
	}, bus.Group("g"))
	require.NoError(t, err)
	defer sub.Close(context.Background())

	sent, err := orders.Message("o-1", orderCreated{ID: "o-1", Total: 3})
	require.NoError(t, err)
	sent.Header["ce_subject"] = "o-1"
	sent.Header["tenant"] = "acme"
	sent.Time = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	require.NoError(t, b.Publish(t.Context(), "orders", sent))

	select {
	case m := <-got:
		assert.Equal(t, sent.ID, m.ID)
		assert.Equal(t, "o-1", m.Key)
		assert.True(t, sent.Time.Equal(m.Time))
		assert.Equal(t, sent.Header, m.Header, "the same headers as binary mode gives")
		assert.Equal(t, orderCreated{ID: "o-1", Total: 3}, <-typed)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no delivery")
	}
}

// publishedConn records what Publish hands the driver.
type publishedConn struct {
	openTestConn
	msgs []driver.Message
}

func (c *publishedConn) Publish(_ context.Context, _ string, msgs []driver.Message) error {
	c.msgs = append(c.msgs, msgs...)
	return nil
}

func TestStructuredModeWritesTheEventAsPayload(t *testing.T) {
	scheme := uniqueScheme()
	conn := &publishedConn{}
	bus.Register(scheme, func(context.Context, driver.OpenConfig) (driver.Conn, error) { return conn, nil })
	b, err := bus.Open(t.Context(), scheme+"://", bus.StructuredMode())
	require.NoError(t, err)
	defer b.Close(context.Background())
	m := &bus.Message{ID: "e-1", Time: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Payload: []byte(`{"n":1}`),
		Header: map[string]string{"content-type": "application/json", "ce_type": "com.x", "tenant": "acme"}}
	require.NoError(t, b.Publish(t.Context(), "t", m))

	require.Len(t, conn.msgs, 1)
	assert.Equal(t, map[string]string{"content-type": "application/cloudevents+json", "tenant": "acme"}, conn.msgs[0].Header)
	assert.JSONEq(t, `{"specversion":"1.0","id":"e-1","time":"2030-01-02T03:04:05Z","type":"com.x","source":"eventbus",
		"datacontenttype":"application/json","data":{"n":1}}`, string(conn.msgs[0].Payload))
	assert.Equal(t, `{"n":1}`, string(m.Payload), "the caller's message is not changed")
}

func TestStructuredMessageIsReadOnceAcrossRetries(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://", bus.StructuredMode())
	require.NoError(t, err)
	defer b.Close(context.Background())
	runs := make(chan *bus.Message, 2)
	sub, err := b.Subscribe(t.Context(), "t", func(_ context.Context, m *bus.Message) error {
		runs <- &bus.Message{ID: m.ID, Payload: m.Payload, Header: m.Header}
		if m.Attempt == 1 {
			return errors.New("once more")
		}
		return nil
	}, bus.Group("g"), bus.Retry(bus.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, HoldInterval: time.Millisecond, Multiplier: 1}))
	require.NoError(t, err)
	defer sub.Close(context.Background())
	require.NoError(t, b.Publish(t.Context(), "t", &bus.Message{ID: "e", Payload: []byte("text"), Header: map[string]string{"content-type": "text/plain"}}))
	for range 2 {
		select {
		case m := <-runs:
			assert.Equal(t, &bus.Message{ID: "e", Payload: []byte("text"), Header: map[string]string{"content-type": "text/plain"}}, m)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "no run")
		}
	}
}

func TestStructuredModeRefusesReservedHeader(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://", bus.StructuredMode())
	require.NoError(t, err)
	defer b.Close(context.Background())
	err = b.Publish(t.Context(), "t", &bus.Message{Header: map[string]string{"ce_data_base64": "x"}})
	assert.ErrorIs(t, err, bus.ErrInvalidMessage)
	assert.Contains(t, err.Error(), `"ce_data_base64"`)
}
