package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func messages(n int) []*bus.Message {
	msgs := make([]*bus.Message, n)
	for i := range msgs {
		msgs[i] = &bus.Message{Payload: fmt.Appendf(nil, "%d", i)}
	}
	return msgs
}

// collect subscribes in group and returns a channel of handled payloads.
func collect(t *testing.T, b *bus.Bus, group string) <-chan string {
	got := make(chan string, 100)
	sub, err := b.Subscribe(t.Context(), "t", func(_ context.Context, m *bus.Message) error {
		got <- string(m.Payload)
		return nil
	}, bus.Group(group))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	return got
}

func TestPublishBlocksWhileAGroupLags(t *testing.T) {
	ctx := t.Context()
	b := memBus(t, newBroker(t, memory.Options{Retention: 10}))
	defer b.Close(ctx)
	// The group exists, with nothing acked, once it has subscribed.
	sub, err := b.Subscribe(ctx, "t", func(context.Context, *bus.Message) error { return nil }, bus.Group("slow"))
	require.NoError(t, err)
	require.NoError(t, sub.Close(ctx))

	require.NoError(t, b.Publish(ctx, "t", messages(10)...))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err = b.Publish(short, "t", &bus.Message{Payload: []byte("one too many")})
	require.ErrorIs(t, err, memory.ErrFull)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var pe *bus.PublishError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, 0, pe.Failed[0].Index)

	// A publisher waiting for room goes on once the group catches up.
	published := make(chan error, 1)
	go func() { published <- b.Publish(ctx, "t", &bus.Message{Payload: []byte("10")}) }()
	got := collect(t, b, "slow")
	for i := range 11 {
		assert.Equal(t, fmt.Sprint(i), <-got)
	}
	require.NoError(t, <-published)
}

func TestRetentionDropsWhatNoGroupNeeds(t *testing.T) {
	ctx := t.Context()
	b := memBus(t, newBroker(t, memory.Options{Retention: 5}))
	defer b.Close(ctx)
	require.NoError(t, b.Publish(ctx, "t", messages(8)...), "no group holds the oldest messages back")
	got := collect(t, b, "late")
	for i := 3; i < 8; i++ {
		assert.Equal(t, fmt.Sprint(i), <-got, "a new group starts at the oldest message kept")
	}
}

func TestOpenURL(t *testing.T) {
	ctx := t.Context()
	b, err := bus.Open(ctx, "mem://?retention=100&max_message_bytes=1024")
	require.NoError(t, err)
	assert.Equal(t, "mem://", b.String())
	err = b.Publish(ctx, "t", &bus.Message{Payload: make([]byte, 2048)})
	require.ErrorIs(t, err, bus.ErrMessageTooLarge)
	require.NoError(t, b.Close(ctx))
	require.NoError(t, b.Close(ctx))

	for url, want := range map[string]string{
		"mem://?retention=lots":          `parameter "retention": "lots" is not an integer >= 1`,
		"mem://?retension=5":             `unknown parameter "retension" (known: max_message_bytes, retention)`,
		"mem://somehost":                 "takes no host",
		"nats://127.0.0.1:4222":          `unknown scheme "nats" (registered: mem`,
		"127.0.0.1:9092":                 "cannot parse URL",
		"orders":                         "has no scheme",
		"mem://?retention=1&retention=2": `parameter "retention" given 2 times`,
	} {
		_, err := bus.Open(ctx, url)
		require.ErrorIs(t, err, bus.ErrInvalidURL, url)
		assert.ErrorContains(t, err, want, url)
	}
}
