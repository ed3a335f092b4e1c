package bus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type orderCreated struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

var orders = bus.NewTopic("orders", codec.JSON[orderCreated]{})

func TestTopicMessage(t *testing.T) {
	assert.Equal(t, "orders", orders.Name())

	m, err := orders.Message("k1", orderCreated{ID: "o-1", Total: 3})
	require.NoError(t, err)
	assert.Equal(t, "k1", m.Key)
	assert.JSONEq(t, `{"id":"o-1","total":3}`, string(m.Payload))
	assert.Equal(t, map[string]string{
		driver.HeaderContentType: "application/json",
		driver.HeaderType:        "bus_test.orderCreated",
	}, m.Header)
	assert.Empty(t, m.ID, "Publish fills the ID")
	assert.True(t, m.Time.IsZero(), "Publish fills the Time")
}

func TestTopicWithEventType(t *testing.T) {
	custom := orders.WithEventType("com.example.order.created")
	m, err := custom.Message("", orderCreated{})
	require.NoError(t, err)
	assert.Equal(t, "com.example.order.created", m.Header[driver.HeaderType])
	assert.Equal(t, "orders", custom.Name())

	// WithEventType returns a copy; the original keeps the Go type name.
	m, err = orders.Message("", orderCreated{})
	require.NoError(t, err)
	assert.Equal(t, "bus_test.orderCreated", m.Header[driver.HeaderType])
}

func TestTopicMessageEncodeError(t *testing.T) {
	funcs := bus.NewTopic("funcs", codec.JSON[func()]{})
	m, err := funcs.Message("", func() {})
	require.Error(t, err)
	assert.Nil(t, m)
	assert.Contains(t, err.Error(), `encode func() for "funcs"`)
}

func TestTopicHandlerDecodes(t *testing.T) {
	var got orderCreated
	var gotMsg *bus.Message
	h := orders.Handler(func(_ context.Context, m *bus.Message, o orderCreated) error {
		got, gotMsg = o, m
		return nil
	})

	for _, header := range []map[string]string{
		{driver.HeaderContentType: "application/json"},
		nil, // no content-type: the codec's is assumed
	} {
		got, gotMsg = orderCreated{}, nil
		m := &bus.Message{ID: "id-1", Payload: []byte(`{"id":"o-7","total":9}`), Header: header}
		require.NoError(t, h(t.Context(), m))
		assert.Equal(t, orderCreated{ID: "o-7", Total: 9}, got)
		assert.Same(t, m, gotMsg)
	}
}

func TestTopicHandlerReturnsHandlerError(t *testing.T) {
	failure := errors.New("out of stock")
	h := orders.Handler(func(context.Context, *bus.Message, orderCreated) error { return failure })
	err := h(t.Context(), &bus.Message{Payload: []byte(`{}`)})
	assert.Same(t, failure, err)
	assert.False(t, bus.IsPermanent(err))
}

func TestTopicHandlerRejectsBadPayload(t *testing.T) {
	tests := []struct {
		name    string
		msg     *bus.Message
		mention []string
	}{
		{
			name:    "undecodable payload",
			msg:     &bus.Message{ID: "id-2", Topic: "orders", Payload: []byte(`{"id":`)},
			mention: []string{"id-2", `"orders"`, "bus_test.orderCreated"},
		},
		{
			name:    "wrong JSON type",
			msg:     &bus.Message{ID: "id-3", Topic: "orders", Payload: []byte(`{"total":"many"}`)},
			mention: []string{"id-3"},
		},
		{
			name: "content-type of another codec",
			msg: &bus.Message{ID: "id-4", Topic: "orders", Payload: []byte(`{"id":"o-1"}`),
				Header: map[string]string{driver.HeaderContentType: "application/protobuf"}},
			mention: []string{"id-4", `"application/protobuf"`, `"application/json"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := orders.Handler(func(context.Context, *bus.Message, orderCreated) error {
				called = true
				return nil
			})
			err := h(t.Context(), tt.msg)
			require.Error(t, err)
			assert.False(t, called, "the typed handler must not run")
			assert.True(t, bus.IsPermanent(err), "not worth retrying")
			assert.ErrorIs(t, err, bus.ErrDecode)
			for _, s := range tt.mention {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestTopicRoundTrip(t *testing.T) {
	b, err := bus.Open(t.Context(), "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	topic := orders.WithEventType("com.example.order.created")
	require.NoError(t, topic.Publish(t.Context(), b, "k1", orderCreated{ID: "o-1", Total: 5}))

	type delivery struct {
		msg   *bus.Message
		order orderCreated
	}
	got := make(chan delivery, 1)
	sub, err := topic.Subscribe(t.Context(), b, func(_ context.Context, m *bus.Message, o orderCreated) error {
		got <- delivery{m, o}
		return nil
	}, bus.Group("g"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	assert.Equal(t, "orders", sub.Topic())

	d := receive(t, got)
	assert.Equal(t, orderCreated{ID: "o-1", Total: 5}, d.order)
	assert.Equal(t, "k1", d.msg.Key)
	assert.Equal(t, "orders", d.msg.Topic)
	assert.NotEmpty(t, d.msg.ID)
	assert.False(t, d.msg.Time.IsZero())
	assert.Equal(t, "application/json", d.msg.Header[driver.HeaderContentType])
	assert.Equal(t, "com.example.order.created", d.msg.Header[driver.HeaderType])
}

func TestTopicHandlerComparesMediaTypes(t *testing.T) {
	for _, contentType := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8", ""} {
		var got orderCreated
		h := orders.Handler(func(_ context.Context, _ *bus.Message, o orderCreated) error {
			got = o
			return nil
		})
		m := &bus.Message{ID: "id", Payload: []byte(`{"id":"o-9","total":9}`), Header: map[string]string{driver.HeaderContentType: contentType}}
		require.NoError(t, h(t.Context(), m), "content-type %q", contentType)
		assert.Equal(t, orderCreated{ID: "o-9", Total: 9}, got, "content-type %q", contentType)
	}
	h := orders.Handler(func(context.Context, *bus.Message, orderCreated) error { return nil })
	err := h(t.Context(), &bus.Message{Payload: []byte(`{}`), Header: map[string]string{driver.HeaderContentType: "text/json; charset=utf-8"}})
	assert.ErrorIs(t, err, bus.ErrDecode, "another media type is rejected")
}
