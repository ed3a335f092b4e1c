package pulsar_test

import (
	"context"
	"testing"
	"time"

	apachepulsar "github.com/apache/pulsar-client-go/pulsar"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// TestTransactionalSubscribeSaysWhy checks that Transactional fails
// Subscribe at once with ErrUnsupported and the reason.
func TestTransactionalSubscribeSaysWhy(t *testing.T) {
	b := openBus(t, "")
	_, err := b.Subscribe(t.Context(), newTopic(t), func(context.Context, *bus.Message) error { return nil },
		bus.Group("tx"), bus.Transactional())
	require.ErrorIs(t, err, bus.ErrUnsupported)
	assert.ErrorContains(t, err, "consumers would see the outputs of aborted ones")
}

// TestClientLeavesAbortedMessagesVisible is why the driver refuses
// transactional subscriptions: a message pulsar-client-go publishes in a
// transaction that then aborts reaches consumers (the client leaves the
// transaction out of the message's metadata, which the broker filters by;
// apache/pulsar-client-go#1498). If this test fails, a client upgrade has
// fixed it: Pulsar transactions can then back bus.Transactional.
func TestClientLeavesAbortedMessagesVisible(t *testing.T) {
	client, err := apachepulsar.NewClient(apachepulsar.ClientOptions{URL: testbroker.Pulsar(t), EnableTransaction: true, Logger: quietPulsarLogger()})
	require.NoError(t, err, "the test broker runs the transaction coordinator (scripts/brokers.sh)")
	defer client.Close()
	topic := newTopic(t)
	consumer, err := client.Subscribe(apachepulsar.ConsumerOptions{Topic: topic, SubscriptionName: "reader",
		SubscriptionInitialPosition: apachepulsar.SubscriptionPositionEarliest})
	require.NoError(t, err)
	defer consumer.Close()
	producer, err := client.CreateProducer(apachepulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	require.NoError(t, err)
	defer producer.Close()

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	txn, err := client.NewTransaction(time.Minute)
	require.NoError(t, err)
	_, err = producer.Send(ctx, &apachepulsar.ProducerMessage{Payload: []byte("aborted"), Transaction: txn})
	require.NoError(t, err)
	require.NoError(t, txn.Abort(ctx))
	_, err = producer.Send(ctx, &apachepulsar.ProducerMessage{Payload: []byte("plain")})
	require.NoError(t, err)

	var got []string
	for len(got) == 0 || got[len(got)-1] != "plain" {
		m, err := consumer.Receive(ctx)
		require.NoError(t, err, "received so far: %q", got)
		got = append(got, string(m.Payload()))
		require.NoError(t, consumer.Ack(m))
	}
	assert.Equal(t, []string{"aborted", "plain"}, got,
		"pulsar-client-go no longer shows aborted messages: Pulsar transactions can back bus.Transactional now")
}
