package kafka_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/kafka"
)

func TestNackRedeliversOnlyItsMessageMock(t *testing.T) {
	be, _ := mockBackend(t)
	testNackRedeliversOnlyItsMessage(t, be)
}

func TestNackRedeliversOnlyItsMessageReal(t *testing.T) {
	testNackRedeliversOnlyItsMessage(t, realBackend(t))
}

// testNackRedeliversOnlyItsMessage nacks the first message of a one-
// partition topic and acks the rest: only the nacked one comes again, no
// earlier than its delay, and nothing else in the partition is redelivered.
func testNackRedeliversOnlyItsMessage(t *testing.T, be backend) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	topic := be.topic(t, 1)
	u, err := url.Parse(be.url)
	require.NoError(t, err)
	conn, err := kafka.OpenConn(ctx, driver.OpenConfig{URL: u, Logger: slog.Default()})
	require.NoError(t, err)
	defer conn.Close(context.Background())

	const n = 50
	msgs := make([]driver.Message, n)
	for i := range msgs {
		msgs[i] = driver.Message{ID: fmt.Sprint("m-", i), Key: fmt.Sprint("key-", i%5), Payload: []byte("x")}
	}
	require.NoError(t, conn.Publish(ctx, topic, msgs))
	sub, err := conn.Subscribe(ctx, topic, driver.SubscribeConfig{Group: "nack-" + topic})
	require.NoError(t, err)
	defer sub.Close(context.Background())

	const delay = 500 * time.Millisecond
	var nackedAt time.Time
	batch := make([]driver.Delivery, 16)
	for seen := 0; seen < n; {
		got, err := sub.Receive(ctx, batch)
		require.NoError(t, err)
		for _, d := range batch[:got] {
			seen++
			require.Equal(t, 1, d.Attempt, "%s is delivered once before the nack", d.ID)
			if d.ID == "m-0" {
				require.NoError(t, sub.Nack(&d.Receipt, delay))
				nackedAt = time.Now()
				continue
			}
			require.NoError(t, sub.Ack(&d.Receipt))
		}
	}
	got, err := sub.Receive(ctx, batch)
	require.NoError(t, err)
	late := time.Since(nackedAt) - delay
	require.Equal(t, 1, got, "only the nacked message comes again")
	assert.Equal(t, "m-0", batch[0].ID)
	assert.Equal(t, 2, batch[0].Attempt, "Attempt counts the redelivery")
	assert.GreaterOrEqual(t, late, time.Duration(0), "redelivered before the nack delay ended")
	t.Logf("redelivered %v after the %v nack delay", late, delay)
	require.NoError(t, sub.Ack(&batch[0].Receipt))
}
