package smoke

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/internal/testbroker"
)

func TestKafkaPlaintextRoundTrip(t *testing.T) {
	kafkaRoundTrip(t, kafka.ConfigMap{"bootstrap.servers": testbroker.Kafka(t)})
}

func TestKafkaSASLRoundTrip(t *testing.T) {
	kafkaRoundTrip(t, saslConfig(testbroker.KafkaSASL(t), testbroker.KafkaSASLPassword))
}

func TestKafkaSASLWrongPasswordFails(t *testing.T) {
	config := saslConfig(testbroker.KafkaSASL(t), "not-"+testbroker.KafkaSASLPassword)
	config["log_level"] = 2 // the expected failure is logged at level 3: keep it out of the output
	producer, err := kafka.NewProducer(&config)
	require.NoError(t, err)
	defer producer.Close()

	// The client connects to the bootstrap server on its own; the broker's
	// rejection arrives as an error event.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case e := <-producer.Events():
			if kerr, ok := e.(kafka.Error); ok {
				require.Equal(t, kafka.ErrAuthentication, kerr.Code(), "want an authentication failure, got %v", kerr)
				return
			}
		case <-ctx.Done():
			t.Fatal("no authentication error within 30s for a wrong password")
		}
	}
}

func saslConfig(bootstrap, password string) kafka.ConfigMap {
	return kafka.ConfigMap{
		"bootstrap.servers": bootstrap,
		"security.protocol": "SASL_PLAINTEXT",
		"sasl.mechanisms":   "PLAIN",
		"sasl.username":     testbroker.KafkaSASLUser,
		"sasl.password":     password,
	}
}

// kafkaRoundTrip produces one message with a key and a header to a new
// (auto-created) topic and consumes it through a consumer group.
func kafkaRoundTrip(t *testing.T, config kafka.ConfigMap) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := "smoke-" + uuid.NewString()

	producer, err := kafka.NewProducer(withConfig(config, kafka.ConfigMap{"message.timeout.ms": 30000}))
	require.NoError(t, err)
	defer producer.Close()
	delivered := make(chan kafka.Event, 1)
	require.NoError(t, producer.Produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            []byte("key-1"),
		Value:          []byte("hello kafka"),
		Headers:        []kafka.Header{{Key: "ce_type", Value: []byte("smoke.test")}},
	}, delivered))
	select {
	case e := <-delivered:
		require.NoError(t, e.(*kafka.Message).TopicPartition.Error)
	case <-ctx.Done():
		t.Fatal("no delivery report:", ctx.Err())
	}

	consumer, err := kafka.NewConsumer(withConfig(config, kafka.ConfigMap{
		"group.id":          "smoke-" + uuid.NewString(),
		"auto.offset.reset": "earliest",
	}))
	require.NoError(t, err)
	defer consumer.Close()
	require.NoError(t, consumer.Subscribe(topic, nil))
	for {
		require.NoError(t, ctx.Err(), "no message consumed")
		m, err := consumer.ReadMessage(time.Second)
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.IsTimeout() {
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, "key-1", string(m.Key))
		assert.Equal(t, "hello kafka", string(m.Value))
		assert.Equal(t, []kafka.Header{{Key: "ce_type", Value: []byte("smoke.test")}}, m.Headers)
		_, err = consumer.CommitMessage(m)
		require.NoError(t, err)
		return
	}
}

func withConfig(base, extra kafka.ConfigMap) *kafka.ConfigMap {
	merged := kafka.ConfigMap{}
	for k, v := range base {
		merged[k] = v
	}
	for k, v := range extra {
		merged[k] = v
	}
	return &merged
}
