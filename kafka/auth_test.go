package kafka_test

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	"github.com/eventbus-go/eventbus/internal/testlog"
)

// roundTrip opens u, subscribes to a new topic, publishes payload and waits
// for it to come back.
func roundTrip(t *testing.T, u, payload string, logger *slog.Logger) {
	t.Helper()
	topic := realBackend(t).topic(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eb, err := bus.Open(ctx, u, bus.Logger(logger))
	require.NoError(t, err)
	c := newCollector(1)
	sub, err := eb.Subscribe(ctx, topic, c.handle, bus.Group("auth"))
	require.NoError(t, err)
	require.NoError(t, eb.Publish(ctx, topic, &bus.Message{Payload: []byte(payload)}))
	assert.Equal(t, payload, string(c.await(t, 1, 30*time.Second)[0].Payload))
	require.NoError(t, sub.Close(ctx))
	require.NoError(t, eb.Close(ctx))
}

// openFails opens u, which must fail before its context ends, and returns
// the error.
func openFails(t *testing.T, u string, logger *slog.Logger) error {
	t.Helper()
	// Far longer than a fast failure takes, far shorter than the driver's
	// 30 s connect wait: a timeout here means the failure was not reported.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eb, err := bus.Open(ctx, u, bus.Logger(logger))
	if eb != nil {
		_ = eb.Close(ctx)
	}
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Open failed only when its context ended: %v", err)
	return err
}

func TestSCRAMReal(t *testing.T) {
	addr := testbroker.KafkaSASL(t)
	var logs testlog.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const wrong = "not-the-Scram-Secret-42"

	for _, mechanism := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mechanism, func(t *testing.T) {
			t.Run("RightPassword", func(t *testing.T) {
				u := "kafka://" + testbroker.KafkaSASLUser + ":" + testbroker.KafkaSASLPassword + "@" + addr +
					"?sasl_mechanism=" + mechanism
				roundTrip(t, u, "over "+mechanism, logger)
			})
			t.Run("WrongPassword", func(t *testing.T) {
				for _, u := range []string{
					"kafka://" + testbroker.KafkaSASLUser + ":" + wrong + "@" + addr + "?sasl_mechanism=" + mechanism,
					"kafka://" + addr + "?sasl_mechanism=" + mechanism +
						"&sasl_username=" + testbroker.KafkaSASLUser + "&sasl_password=" + wrong,
				} {
					err := openFails(t, u, logger)
					assert.Contains(t, err.Error(), "Authentication failed")
					assert.Contains(t, err.Error(), mechanism)
					assert.NotContains(t, err.Error(), wrong)
				}
			})
			t.Run("UnknownUser", func(t *testing.T) {
				// PLAIN knows this user from the broker configuration, SCRAM
				// only from the credentials stored at format time: a user
				// without them is refused like a wrong password.
				u := "kafka://nobody:" + testbroker.KafkaSASLPassword + "@" + addr + "?sasl_mechanism=" + mechanism
				err := openFails(t, u, logger)
				assert.Contains(t, err.Error(), "Authentication failed")
			})
		})
	}
	assert.NotContains(t, logs.String(), wrong)
	assert.NotContains(t, logs.String(), testbroker.KafkaSASLPassword)
}

func TestTLSReal(t *testing.T) {
	addr, ca := testbroker.KafkaTLS(t)
	var logs testlog.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	caParam := "tls_ca=" + url.QueryEscape(ca)

	t.Run("WithCA", func(t *testing.T) {
		roundTrip(t, "kafka://"+addr+"?"+caParam, "over tls", logger)
	})

	t.Run("SkipVerify", func(t *testing.T) {
		roundTrip(t, "kafka://"+addr+"?tls_skip_verify=true", "over unverified tls", logger)
	})

	t.Run("WithoutCA", func(t *testing.T) {
		// The system's CAs do not include the test broker's throwaway one.
		err := openFails(t, "kafka://"+addr+"?tls=true", logger)
		assert.Contains(t, err.Error(), "certificate verify failed")
	})

	t.Run("WrongHostName", func(t *testing.T) {
		// The broker's certificate names 127.0.0.1 only, not localhost.
		_, port, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		err = openFails(t, "kafka://localhost:"+port+"?"+caParam, logger)
		assert.Contains(t, err.Error(), "certificate verify failed")
		// The same CA without the host name check: the name was the problem.
		roundTrip(t, "kafka://localhost:"+port+"?"+caParam+"&librdkafka.ssl.endpoint.identification.algorithm=none",
			"over tls, host name unchecked", logger)
	})

}
