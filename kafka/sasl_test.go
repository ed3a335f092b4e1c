package kafka_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	"github.com/eventbus-go/eventbus/internal/testlog"
)

func TestSASLReal(t *testing.T) {
	addr := testbroker.KafkaSASL(t)
	topic := realBackend(t).topic(t, 1)
	ctx := context.Background()
	var logs testlog.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	t.Run("RightPassword", func(t *testing.T) {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		u := "kafka://" + testbroker.KafkaSASLUser + ":" + testbroker.KafkaSASLPassword + "@" + addr + "?sasl_mechanism=PLAIN"
		eb, err := bus.Open(octx, u, bus.Logger(logger))
		require.NoError(t, err)
		assert.NotContains(t, eb.String(), testbroker.KafkaSASLPassword)
		c := newCollector(1)
		sub, err := eb.Subscribe(octx, topic, c.handle, bus.Group("sasl"))
		require.NoError(t, err)
		require.NoError(t, eb.Publish(octx, topic, &bus.Message{Payload: []byte("over sasl")}))
		assert.Equal(t, "over sasl", string(c.await(t, 1, 30*time.Second)[0].Payload))
		require.NoError(t, sub.Close(octx))
		require.NoError(t, eb.Close(octx))
	})

	t.Run("WrongPassword", func(t *testing.T) {
		const wrong = "not-the-Secret-42"
		octx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		for _, u := range []string{
			"kafka://" + testbroker.KafkaSASLUser + ":" + wrong + "@" + addr,
			"kafka://" + addr + "?sasl_username=" + testbroker.KafkaSASLUser + "&sasl_password=" + wrong,
		} {
			eb, err := bus.Open(octx, u, bus.Logger(logger))
			if eb != nil {
				_ = eb.Close(octx)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Authentication failed")
			assert.NotContains(t, err.Error(), wrong)
		}
		assert.NotContains(t, logs.String(), wrong)
	})
	assert.NotContains(t, logs.String(), testbroker.KafkaSASLPassword)
}
