package pulsar_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/pulsar"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These need no broker: options are checked before any call to one. Open
// only needs a port that accepts connections.
func TestSubscribeRejectsUnknownOptions(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, "pulsar://"+blackHole(t)+"?operationTimeout=1s&connectionTimeout=1s")
	require.NoError(t, err)
	defer b.Close(ctx)
	h := func(context.Context, *bus.Message) error { return nil }

	_, err = b.Subscribe(ctx, "t", h, bus.DriverOption("shared"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown driver option string")

	_, err = b.Subscribe(ctx, "t", h, pulsar.SubscriptionType(pulsar.Type(42)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown subscription type Type(42)")

	_, err = b.Subscribe(ctx, "a/b", h)
	assert.ErrorIs(t, err, bus.ErrInvalidTopic)
}

func TestOpenHidesSecrets(t *testing.T) {
	ctx := context.Background()
	addr := blackHole(t)
	b, err := bus.Open(ctx, "pulsar://"+addr+"?token=s3cret")
	require.NoError(t, err)
	defer b.Close(ctx)
	assert.Equal(t, "pulsar://"+addr, b.String())

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = bus.Open(short, "pulsar://127.0.0.1:1?token=s3cret")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")

	_, err = bus.Open(ctx, "pulsar://127.0.0.1:1?token=s3cret&colour=blue")
	require.ErrorIs(t, err, bus.ErrInvalidURL)
	assert.Contains(t, err.Error(), `"colour"`)
	assert.NotContains(t, err.Error(), "s3cret")
}
