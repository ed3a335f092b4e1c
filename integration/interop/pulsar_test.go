package interop

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// pulsarClient is a plain pulsar-client-go client, closed with the test.
func pulsarClient(t *testing.T) pulsar.Client {
	t.Helper()
	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: testbroker.Pulsar(t), Logger: pulsarlog.DefaultNopLogger()})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return client
}

// cloudEventAttributes recovers a CloudEvent's attributes from a message
// eventbus published, as docs/pulsar.md tells a plain Pulsar consumer to:
// ce_* properties are attributes; specversion is 1.0, type
// eventbus.message and source eventbus when absent; time is ce_time, else
// the event time.
func cloudEventAttributes(m pulsar.Message) map[string]string {
	attrs := map[string]string{"specversion": "1.0", "type": "eventbus.message", "source": "eventbus"}
	if !m.EventTime().IsZero() {
		attrs["time"] = m.EventTime().UTC().Format(time.RFC3339Nano)
	}
	for k, v := range m.Properties() {
		if name, ok := strings.CutPrefix(k, "ce_"); ok {
			attrs[name] = v
		}
	}
	if ct, ok := m.Properties()["content-type"]; ok {
		attrs["datacontenttype"] = ct
	}
	return attrs
}

func TestPulsarClientReadsEventbusMessages(t *testing.T) {
	url := testbroker.Pulsar(t)
	topic := uniqueName("interop-pulsar-read")
	consumer, err := pulsarClient(t).Subscribe(pulsar.ConsumerOptions{
		Topic: "persistent://public/default/" + topic, SubscriptionName: "raw",
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	require.NoError(t, err)
	defer consumer.Close()

	b := openBus(t, url)
	orders := bus.NewTopic(topic, codec.JSON[order]{}).WithEventType("com.example.order.created")
	typed, err := orders.Message("o-1", order{ID: "o-1", Total: 5})
	require.NoError(t, err)
	at := time.Date(2040, 2, 3, 4, 5, 6, 789000000, time.UTC)
	typed.Time = at
	typed.Header["tenant"] = "acme"
	typed.Header["ce_subject"] = "o-1"
	// A plain message with a time finer than milliseconds and a source.
	precise := time.Date(2041, 1, 1, 0, 0, 0, 123456789, time.UTC)
	plain := &bus.Message{Payload: []byte("plain"), Time: precise, Header: map[string]string{"ce_source": "/shop"}}
	require.NoError(t, b.Publish(t.Context(), topic, typed, plain))

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	byID := map[string]pulsar.Message{}
	for range 2 { // batches of different keys may arrive in either order
		raw, err := consumer.Receive(ctx)
		require.NoError(t, err)
		require.NoError(t, consumer.Ack(raw))
		byID[raw.Properties()["ce_id"]] = raw
	}

	raw := byID[typed.ID]
	require.NotNil(t, raw, "the typed message arrived: %v", byID)
	assert.Equal(t, map[string]string{
		"ce_id":        typed.ID,
		"ce_type":      "com.example.order.created",
		"ce_subject":   "o-1",
		"content-type": "application/json",
		"tenant":       "acme",
	}, raw.Properties(), "a time in whole milliseconds travels as the event time alone; constants do not travel")
	assert.Equal(t, "o-1", raw.Key())
	assert.JSONEq(t, `{"id":"o-1","total":5}`, string(raw.Payload()))
	assert.True(t, at.Equal(raw.EventTime()), "the Pulsar event time is the event's time: %v", raw.EventTime())
	assert.Equal(t, map[string]string{
		"specversion": "1.0", "id": typed.ID, "time": "2040-02-03T04:05:06.789Z",
		"type": "com.example.order.created", "source": "eventbus", "subject": "o-1",
		"datacontenttype": "application/json",
	}, cloudEventAttributes(raw))

	raw = byID[plain.ID]
	require.NotNil(t, raw, "the plain message arrived: %v", byID)
	assert.Equal(t, map[string]string{
		"ce_id":     plain.ID,
		"ce_time":   "2041-01-01T00:00:00.123456789Z",
		"ce_source": "/shop",
	}, raw.Properties(), "a time finer than milliseconds travels as ce_time too")
	assert.Equal(t, map[string]string{
		"specversion": "1.0", "id": plain.ID, "time": "2041-01-01T00:00:00.123456789Z",
		"type": "eventbus.message", "source": "/shop",
	}, cloudEventAttributes(raw))
}

func TestEventbusReadsPulsarClientMessages(t *testing.T) {
	topic := uniqueName("interop-pulsar-write")
	producer, err := pulsarClient(t).CreateProducer(pulsar.ProducerOptions{
		Topic: "persistent://public/default/" + topic,
		// Several messages in one entry: their message IDs differ only in
		// the batch index.
		BatchingMaxPublishDelay: time.Minute, BatchingMaxMessages: 100,
	})
	require.NoError(t, err)
	defer producer.Close()

	b := openBus(t, testbroker.Pulsar(t))
	got := newInbox()
	subscribe(t, b, topic, got.handle, bus.Use(memoryDedup(t)))

	start := time.Now()
	send := func(msg *pulsar.ProducerMessage) {
		producer.SendAsync(t.Context(), msg, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			assert.NoError(t, err)
		})
	}
	for i := range 3 {
		send(&pulsar.ProducerMessage{Payload: fmt.Appendf(nil, "plain-%d", i)}) // no properties, no event time
	}
	eventTime := time.Date(2029, 9, 9, 9, 9, 9, 0, time.UTC)
	send(&pulsar.ProducerMessage{Key: "with-event-time", Payload: []byte("plain-3"), EventTime: eventTime})
	send(&pulsar.ProducerMessage{Key: "o-4", Payload: []byte(`{"specversion":"1.0","id":"pulsar-structured","source":"/raw",` +
		`"type":"com.example.order.created","time":"2032-02-02T02:02:02Z","data":{"id":"o-4","total":4}}`),
		Properties: map[string]string{"content-type": "application/cloudevents+json"}})
	require.NoError(t, producer.FlushWithCtx(t.Context()))

	byPayload := map[string]*bus.Message{}
	ids := map[string]bool{}
	for _, m := range got.await(t, 5) {
		byPayload[string(m.Payload)] = m
		ids[m.ID] = true
	}
	require.Len(t, ids, 5, "every message its own ID: %v", ids)
	prefix := "persistent://public/default/" + topic + "/"
	entries := map[string]bool{}
	for i := range 3 {
		m := byPayload[fmt.Sprintf("plain-%d", i)]
		require.NotNil(t, m, "plain-%d handled", i)
		messageID, ok := strings.CutPrefix(m.ID, prefix)
		require.True(t, ok, "ID %q is <topic>/<message ID>", m.ID)
		parts := strings.Split(messageID, ":") // ledger:entry:partition:batch
		require.Len(t, parts, 4, "ID %q", m.ID)
		assert.Equal(t, fmt.Sprint(i), parts[3], "batch index of %q", m.ID)
		entries[parts[0]+":"+parts[1]] = true
		assert.WithinRange(t, m.Time, start.Add(-time.Minute), time.Now().Add(time.Minute), "no event time: the publish time, not 1970")
		assert.Nil(t, m.Header)
	}
	assert.Len(t, entries, 1, "the three plain messages share one entry, told apart by their batch index")
	assert.True(t, eventTime.Equal(byPayload["plain-3"].Time), "the producer's event time: %v", byPayload["plain-3"].Time)

	structured := byPayload[`{"id":"o-4","total":4}`]
	require.NotNil(t, structured, "the structured event's data is the payload")
	assert.Equal(t, "pulsar-structured", structured.ID)
	assert.Equal(t, "o-4", structured.Key)
	assert.True(t, time.Date(2032, 2, 2, 2, 2, 2, 0, time.UTC).Equal(structured.Time))
	assert.Equal(t, map[string]string{"ce_source": "/raw", "ce_type": "com.example.order.created", "content-type": "application/json"},
		structured.Header)
}
