package interop

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// The CloudEvents SDK's Kafka binding rides on sarama, a Kafka client that
// shares no code with librdkafka.
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "eventbus-interop"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	return cfg
}

// producePlain produces one record with sarama, as a producer that knows
// nothing of eventbus or CloudEvents: key, value and headers as given.
func producePlain(t *testing.T, addr, topic, key string, value []byte, headers map[string]string) {
	t.Helper()
	producer, err := sarama.NewSyncProducer([]string{addr}, saramaConfig())
	require.NoError(t, err)
	defer producer.Close()
	record := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}
	for k, v := range headers {
		record.Headers = append(record.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	_, _, err = producer.SendMessage(record)
	require.NoError(t, err)
}

// sdkEvents reads n records from partition 0 of topic with sarama and turns
// each into an event with the SDK's Kafka binding, checking it is valid.
func sdkEvents(t *testing.T, addr, topic string, n int) ([]*event.Event, []*sarama.ConsumerMessage) {
	t.Helper()
	consumer, err := sarama.NewConsumer([]string{addr}, saramaConfig())
	require.NoError(t, err)
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	var (
		events  []*event.Event
		records []*sarama.ConsumerMessage
	)
	deadline := time.After(waitTimeout)
	for len(events) < n {
		select {
		case cm := <-pc.Messages():
			msg := kafka_sarama.NewMessageFromConsumerMessage(cm)
			ev, err := binding.ToEvent(t.Context(), msg)
			require.NoError(t, err, "the SDK reads record %d", cm.Offset)
			require.NoError(t, ev.Validate(), "record %d is a valid CloudEvent", cm.Offset)
			events, records = append(events, ev), append(records, cm)
		case err := <-pc.Errors():
			require.NoError(t, err)
		case <-deadline:
			require.FailNowf(t, "timed out", "read %d of %d records of %s", len(events), n, topic)
		}
	}
	return events, records
}

func TestCloudEventsSDKReadsEventbusEvents(t *testing.T) {
	for _, mode := range []struct {
		name     string
		opts     []bus.OpenOption
		encoding binding.Encoding
	}{
		{"binary", nil, binding.EncodingBinary},
		{"structured", []bus.OpenOption{bus.StructuredMode()}, binding.EncodingStructured},
	} {
		t.Run(mode.name, func(t *testing.T) {
			addr := testbroker.Kafka(t)
			b := openBus(t, kafkaURL(addr), mode.opts...)
			topic := uniqueName("interop-ce-read-" + mode.name)
			orders := bus.NewTopic(topic, codec.JSON[order]{}).WithEventType("com.example.order.created")

			// An event time two hours ahead: Kafka would refuse it as a record timestamp.
			at := time.Now().Add(2 * time.Hour).Round(time.Microsecond).UTC()
			typed, err := orders.Message("o-1", order{ID: "o-1", Total: 42})
			require.NoError(t, err)
			typed.Time = at
			typed.Header["ce_subject"] = "o-1"
			typed.Header["ce_region"] = "eu-west-1"
			typed.Header["ce_source"] = "https://shop.example/orders"
			typed.Header["tenant"] = "acme"
			plain := &bus.Message{Payload: []byte{0, 1, 2}}
			require.NoError(t, b.Publish(t.Context(), topic, typed, plain))

			events, records := sdkEvents(t, addr, topic, 2)
			for _, r := range records {
				assert.Equal(t, mode.encoding, kafka_sarama.NewMessageFromConsumerMessage(r).ReadEncoding())
			}
			ev := events[0]
			assert.Equal(t, typed.ID, ev.ID())
			assert.Equal(t, "com.example.order.created", ev.Type())
			assert.Equal(t, "https://shop.example/orders", ev.Source())
			assert.Equal(t, "o-1", ev.Subject())
			assert.True(t, at.Equal(ev.Time()), "time %v, want %v", ev.Time(), at)
			assert.Equal(t, "eu-west-1", ev.Extensions()["region"])
			assert.Equal(t, "application/json", ev.DataContentType())
			assert.JSONEq(t, `{"id":"o-1","total":42}`, string(ev.Data()))
			assert.Equal(t, "o-1", string(records[0].Key))
			assert.WithinDuration(t, time.Now(), records[0].Timestamp, time.Minute, "the record timestamp is the produce time")

			ev = events[1]
			assert.Equal(t, plain.ID, ev.ID())
			assert.Equal(t, "eventbus.message", ev.Type(), "the default type fills the required attribute")
			assert.Equal(t, "eventbus", ev.Source())
			assert.True(t, plain.Time.Equal(ev.Time()))
			assert.Equal(t, []byte{0, 1, 2}, ev.Data())
		})
	}
}

func TestEventbusReadsCloudEventsSDKEvents(t *testing.T) {
	for _, mode := range []struct {
		name     string
		ctx      func(context.Context) context.Context
		encoding binding.Encoding
	}{
		{"binary", binding.WithForceBinary, binding.EncodingBinary},
		{"structured", binding.WithForceStructured, binding.EncodingStructured},
	} {
		t.Run(mode.name, func(t *testing.T) {
			addr := testbroker.Kafka(t)
			topic := uniqueName("interop-ce-" + mode.name)
			createKafkaTopic(t, addr, topic)
			b := openBus(t, kafkaURL(addr))
			got := newInbox()
			var typed []order
			orders := bus.NewTopic(topic, codec.JSON[order]{})
			subscribe(t, b, topic, orders.Handler(func(ctx context.Context, m *bus.Message, o order) error {
				typed = append(typed, o) // one handler at a time: Concurrency 1
				return got.handle(ctx, m)
			}))

			sender, err := kafka_sarama.NewSender([]string{addr}, saramaConfig(), topic)
			require.NoError(t, err)
			defer sender.Close(context.Background())
			client, err := cloudevents.NewClient(sender)
			require.NoError(t, err)

			at := time.Date(2030, 7, 8, 9, 10, 11, 123456789, time.UTC)
			ev := cloudevents.NewEvent()
			ev.SetID("sdk-" + mode.name)
			ev.SetSource("https://sdk.example/orders")
			ev.SetType("com.example.order.created")
			ev.SetSubject("o-7")
			ev.SetTime(at)
			ev.SetDataSchema("https://sdk.example/schemas/order")
			ev.SetExtension("region", "eu-west-1")
			ev.SetExtension("priority", 3)
			ev.SetExtension("partitionkey", "o-7") // the binding's record key
			require.NoError(t, ev.SetData(cloudevents.ApplicationJSON, order{ID: "o-7", Total: 7}))
			result := client.Send(mode.ctx(t.Context()), ev)
			require.True(t, cloudevents.IsACK(result), "send: %v", result)

			// The SDK wrote the mode asked for.
			_, records := sdkEvents(t, addr, topic, 1)
			assert.Equal(t, mode.encoding, kafka_sarama.NewMessageFromConsumerMessage(records[0]).ReadEncoding())

			m := got.await(t, 1)[0]
			assert.Equal(t, "sdk-"+mode.name, m.ID)
			assert.Equal(t, "o-7", m.Key)
			assert.True(t, at.Equal(m.Time), "time %v", m.Time)
			assert.Equal(t, map[string]string{
				"ce_source":       "https://sdk.example/orders",
				"ce_type":         "com.example.order.created",
				"ce_subject":      "o-7",
				"ce_dataschema":   "https://sdk.example/schemas/order",
				"ce_region":       "eu-west-1",
				"ce_priority":     "3",
				"ce_partitionkey": "o-7",
				"content-type":    "application/json",
			}, m.Header)
			var payload order
			require.NoError(t, json.Unmarshal(m.Payload, &payload))
			assert.Equal(t, order{ID: "o-7", Total: 7}, payload)
			assert.Equal(t, []order{{ID: "o-7", Total: 7}}, typed)
		})
	}
}

// A record from a plain producer, no ce_* headers, dead-lettered: the dead
// letter is a valid CloudEvent for the SDK, with the derived ID and a time.
func TestCloudEventsSDKReadsDeadLetterOfPlainRecord(t *testing.T) {
	addr := testbroker.Kafka(t)
	topic := uniqueName("interop-ce-dlq")
	createKafkaTopic(t, addr, topic)
	b := openBus(t, kafkaURL(addr))
	groupName := uniqueName("group")
	seen := newInbox()
	sub, err := b.Subscribe(t.Context(), topic, func(ctx context.Context, m *bus.Message) error {
		_ = seen.handle(ctx, m)
		return bus.Permanent(assert.AnError)
	}, bus.Group(groupName), bus.DeadLetter())
	require.NoError(t, err)
	defer sub.Close(context.Background())

	start := time.Now()
	producePlain(t, addr, topic, "k", []byte("not an event"), map[string]string{"tenant": "acme"})
	m := seen.await(t, 1)[0]
	assert.Equal(t, topic+"/0/0", m.ID, "<topic>/<partition>/<offset>")

	events, records := sdkEvents(t, addr, bus.DefaultDeadLetterTopic(topic, groupName), 1)
	ev := events[0]
	assert.Equal(t, topic+"/0/0", ev.ID())
	assert.WithinRange(t, ev.Time(), start.Add(-time.Minute), time.Now().Add(time.Minute), "the record's time, not zero or 1970")
	assert.True(t, m.Time.Equal(ev.Time()))
	assert.Equal(t, []byte("not an event"), ev.Data())
	assert.Equal(t, "k", string(records[0].Key))
}
