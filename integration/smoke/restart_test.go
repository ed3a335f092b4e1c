package smoke

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// The restart tests kill a broker that every other package's tests share, so
// they only run when asked for, as `make test` does after all other tests:
// EVENTBUS_TEST_RESTART=1 go test -run Restart ./integration/smoke/

func TestKafkaRestartKeepsData(t *testing.T) {
	testbroker.RequireRestartOptIn(t)
	bootstrap := testbroker.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := "smoke-restart-" + uuid.NewString()

	producer, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "acks": "all"})
	require.NoError(t, err)
	delivered := make(chan kafka.Event, 1)
	require.NoError(t, producer.Produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Value:          []byte("survives"),
	}, delivered))
	select {
	case e := <-delivered:
		require.NoError(t, e.(*kafka.Message).TopicPartition.Error)
	case <-ctx.Done():
		t.Fatal("no delivery report")
	}
	producer.Close()

	testbroker.Restart(t, "kafka")

	consumer, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": bootstrap,
		"group.id":          "smoke-" + uuid.NewString(),
		"auto.offset.reset": "earliest",
	})
	require.NoError(t, err)
	defer consumer.Close()
	require.NoError(t, consumer.Subscribe(topic, nil))
	for {
		require.NoError(t, ctx.Err(), "message lost in the restart")
		m, err := consumer.ReadMessage(time.Second)
		if err != nil {
			continue // timeouts, and transient errors while the client reconnects
		}
		require.Equal(t, "survives", string(m.Value))
		return
	}
}

func TestPulsarRestartKeepsData(t *testing.T) {
	testbroker.RequireRestartOptIn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := "persistent://public/default/smoke-restart-" + uuid.NewString()

	client := pulsarClient(t)
	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: topic})
	require.NoError(t, err)
	_, err = producer.Send(ctx, &pulsar.ProducerMessage{Payload: []byte("survives")})
	require.NoError(t, err)
	producer.Close()

	testbroker.Restart(t, "pulsar")

	client = pulsarClient(t)
	consumer, err := client.Subscribe(pulsar.ConsumerOptions{
		Topic:                       topic,
		SubscriptionName:            "smoke",
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	require.NoError(t, err)
	defer consumer.Close()
	m, err := consumer.Receive(ctx)
	require.NoError(t, err)
	require.Equal(t, "survives", string(m.Payload()))

	// The restarted broker must keep serving, not only replay old data: each
	// new topic needs a new ledger on the bookie, which fails ("Not enough
	// non-faulty bookies available") while the bookie's registration flaps.
	for i := range 10 {
		newTopic := "persistent://public/default/smoke-restart-new-" + uuid.NewString()
		consumer, err := client.Subscribe(pulsar.ConsumerOptions{Topic: newTopic, SubscriptionName: "smoke"})
		require.NoError(t, err, "subscribe to new topic %d after the restart", i)
		producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: newTopic})
		require.NoError(t, err, "create producer on new topic %d after the restart", i)
		payload := fmt.Sprintf("after restart %d", i)
		_, err = producer.Send(ctx, &pulsar.ProducerMessage{Payload: []byte(payload)})
		require.NoError(t, err, "produce to new topic %d after the restart", i)
		receiveCtx, cancelReceive := context.WithTimeout(ctx, 30*time.Second)
		m, err := consumer.Receive(receiveCtx)
		cancelReceive()
		require.NoError(t, err, "consume from new topic %d after the restart", i)
		require.Equal(t, payload, string(m.Payload()))
		producer.Close()
		consumer.Close()
		time.Sleep(time.Second)
	}
}
