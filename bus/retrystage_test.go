package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryStagesOptionErrors(t *testing.T) {
	b := memBus(t, newBroker(t, memory.Options{}))
	defer b.Close(context.Background())
	noop := func(context.Context, *bus.Message) error { return nil }
	for _, tc := range []struct {
		name string
		opts []bus.SubscribeOption
		want string
	}{
		{"no delay", []bus.SubscribeOption{bus.Group("g"), bus.RetryStages()}, "RetryStages: no delay given"},
		{"zero delay", []bus.SubscribeOption{bus.Group("g"), bus.RetryStages(time.Second, 0)}, "delay 2 (0s) is not positive"},
		{"no group", []bus.SubscribeOption{bus.RetryStages(time.Second)}, "RetryStages needs a Group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Subscribe(t.Context(), "orders", noop, tc.opts...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), `"orders"`)
		})
	}
}

func TestRetryStageTopic(t *testing.T) {
	assert.Equal(t, "orders.payments.retry.2", bus.RetryStageTopic("orders", "payments", 2))
	assert.Equal(t, "orders.delay", bus.DelayTopic("orders"))
	assert.Equal(t, "eventbus-delay.orders", bus.DelayForwarderGroup("orders"))
}
