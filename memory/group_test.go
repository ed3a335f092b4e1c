package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/memory"
)

// A key in flight at a group's lone member stays with that member when a
// second one joins: the group only starts tracking keys then.
func TestKeyInFlightStaysWithItsMemberWhenASecondJoins(t *testing.T) {
	ctx := t.Context()
	broker, err := memory.NewBroker(memory.Options{})
	require.NoError(t, err)
	conn := memory.ConnOf(broker)
	defer conn.Close(ctx)
	receive := func(sub driver.Subscription) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		batch := make([]driver.Delivery, 8)
		n, err := sub.Receive(ctx, batch)
		require.NoError(t, err)
		var got []string
		for _, d := range batch[:n] {
			got = append(got, string(d.Payload))
		}
		return got
	}
	publish := func(key, payload string) {
		t.Helper()
		require.NoError(t, broker.PublishDriver(ctx, "t", driver.Message{Key: key, Payload: []byte(payload)}))
	}

	first, err := conn.Subscribe(ctx, "t", driver.SubscribeConfig{Group: "g"})
	require.NoError(t, err)
	defer first.Close(ctx)
	publish("k", "k1")
	require.Equal(t, []string{"k1"}, receive(first))

	second, err := conn.Subscribe(ctx, "t", driver.SubscribeConfig{Group: "g"})
	require.NoError(t, err)
	defer second.Close(ctx)
	publish("k", "k2")
	publish("o", "o1")
	require.Equal(t, []string{"o1"}, receive(second), "k is busy at the first member")
	require.Equal(t, []string{"k2"}, receive(first))
}
