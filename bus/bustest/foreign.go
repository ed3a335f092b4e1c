package bustest

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/bus/middleware"
)

// foreignTests are the cases that need Harness.PublishForeign: messages
// from producers that are not eventbus.
func (s *suite) foreignTests() []namedTest {
	return []namedTest{
		{"ForeignProducerWithoutIDIsNeverSkipped", s.testForeignWithoutID},
		{"ForeignDeadLetterIsACloudEvent", s.testForeignDeadLetter},
		{"ForeignBinaryModeWithMediaTypeParameters", s.testForeignBinaryMode},
		{"ForeignStructuredModeIsRead", s.testForeignStructured},
		{"ForeignStructuredModeBase64Data", s.testForeignStructuredBase64},
		{"ForeignBatchModeIsDeadLettered", s.testForeignBatch},
	}
}

// plausibleTime checks that a time a backend filled in is a real recent time,
// not zero and not the Unix epoch a client reports for "unset".
func plausibleTime(t *testing.T, what string, got, before time.Time) {
	t.Helper()
	assert.False(t, got.Before(before.Add(-time.Minute)), "%s %v is before the test started (%v)", what, got, before)
	assert.False(t, got.After(time.Now().Add(time.Minute)), "%s %v is in the future", what, got)
}

func (s *suite) testForeignWithoutID(t *testing.T) {
	start := time.Now()
	b := s.open(t)
	topic := s.topic(t)
	const n = 5
	// Dedup with its default key: messages without a producer's ID must
	// each get an identity of their own, so none is taken for another's
	// duplicate.
	first, second := newRecorder(), newRecorder()
	s.subscribe(t, b, topic, first.handler, group(), bus.Concurrency(4), bus.Use(memoryDedup(t)))
	s.subscribe(t, b, topic, second.handler, group())
	for i := range n {
		s.PublishForeign(t, topic, "", fmt.Appendf(nil, "plain-%d", i), nil)
	}
	first.waitDistinct(t, s.Timeout, n)
	second.waitDistinct(t, s.Timeout, n)

	msgs, runs := first.snapshot()
	payloads := map[string]string{}
	for _, m := range msgs {
		assert.NotEmpty(t, m.ID, "a message without a producer's ID gets one from its position")
		assert.Equal(t, 1, runs[m.ID], "message %s handled once", m.ID)
		payloads[string(m.Payload)] = m.ID
		plausibleTime(t, "Time of "+m.ID, m.Time, start)
		assert.NotContains(t, m.Header, "ce_id")
	}
	require.Len(t, payloads, n, "every plain message handled: %v", payloads)
	others, _ := second.snapshot()
	for _, m := range others {
		assert.Equal(t, payloads[string(m.Payload)], m.ID, "the derived ID is the same in every group")
	}
}

func (s *suite) testForeignDeadLetter(t *testing.T) {
	start := time.Now()
	b := s.open(t)
	topic := s.topic(t)
	groupName := uniqueName("group")
	handled := newRecorder()
	s.subscribe(t, b, topic, func(ctx context.Context, m *bus.Message) error {
		handled.record(m)
		return bus.Permanent(fmt.Errorf("cannot use %q", m.Payload))
	}, bus.Group(groupName), bus.DeadLetter())
	dead := s.deadLetters(t, s.open(t), topic, groupName)
	s.PublishForeign(t, topic, "k", []byte("no headers at all"), nil)

	dead.waitDistinct(t, s.Timeout, 1)
	original, _ := handled.snapshot()
	letters, _ := dead.snapshot()
	letter := letters[0]
	assert.NotEmpty(t, letter.ID, "a dead letter always has a ce_id")
	assert.Equal(t, original[0].ID, letter.ID, "the dead letter keeps the ID the handler saw")
	assert.True(t, original[0].Time.Equal(letter.Time), "the dead letter keeps the time the handler saw: %v, %v", original[0].Time, letter.Time)
	plausibleTime(t, "dead letter time", letter.Time, start)
	assert.Equal(t, []byte("no headers at all"), letter.Payload)
	assert.Equal(t, "k", letter.Key)
}

// typedReceiver subscribes a typed JSON handler of orders on topic.
func (s *suite) typedReceiver(t *testing.T, b *bus.Bus, topic string, opts ...bus.SubscribeOption) (*recorder, func() []order) {
	var (
		mu    sync.Mutex
		typed []order
	)
	r := newRecorder()
	orders := bus.NewTopic(topic, codec.JSON[order]{})
	sub, err := orders.Subscribe(t.Context(), b, func(ctx context.Context, m *bus.Message, o order) error {
		mu.Lock()
		typed = append(typed, o)
		mu.Unlock()
		r.record(m)
		return nil
	}, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		_ = sub.Close(ctx)
	})
	return r, func() []order {
		mu.Lock()
		defer mu.Unlock()
		return append([]order(nil), typed...)
	}
}

func (s *suite) testForeignBinaryMode(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	got, typed := s.typedReceiver(t, b, topic, group())
	s.PublishForeign(t, topic, "o-1", []byte(`{"id":"o-1","total":7}`), map[string]string{
		"ce_specversion": "1.0",
		"ce_id":          "binary-1",
		"ce_type":        "com.example.order.created",
		"ce_source":      "/shop",
		"ce_subject":     "o-1",
		"ce_time":        "2031-05-06t07:08:09.5z", // RFC 3339 allows lower case
		"content-type":   "application/json; charset=utf-8",
		"tenant":         "acme",
	})
	got.waitDistinct(t, s.Timeout, 1)
	msgs, _ := got.snapshot()
	m := msgs[0]
	assert.Equal(t, "binary-1", m.ID)
	assert.Equal(t, "o-1", m.Key)
	assert.True(t, time.Date(2031, 5, 6, 7, 8, 9, 5e8, time.UTC).Equal(m.Time), "time %v", m.Time)
	assert.Equal(t, map[string]string{
		"ce_type":      "com.example.order.created",
		"ce_source":    "/shop",
		"ce_subject":   "o-1",
		"content-type": "application/json; charset=utf-8",
		"tenant":       "acme",
	}, m.Header)
	assert.Equal(t, []order{{ID: "o-1", Total: 7}}, typed())
}

func (s *suite) testForeignStructured(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	got, typed := s.typedReceiver(t, b, topic, group(), bus.Use(memoryDedup(t)))
	s.PublishForeign(t, topic, "o-2", []byte(`{
		"specversion": "1.0",
		"id": "structured-1",
		"source": "https://shop.example/orders",
		"type": "com.example.order.created",
		"subject": "o-2",
		"time": "2019-03-04T05:06:07.123456Z",
		"dataschema": "https://shop.example/schemas/order",
		"datacontenttype": "application/json",
		"region": "eu-west-1",
		"priority": 3,
		"urgent": true,
		"data": {"id": "o-2", "total": 42}
	}`), map[string]string{"content-type": "application/cloudevents+json; charset=UTF-8", "tenant": "acme"})
	got.waitDistinct(t, s.Timeout, 1)
	msgs, _ := got.snapshot()
	m := msgs[0]
	assert.Equal(t, "structured-1", m.ID)
	assert.Equal(t, "o-2", m.Key)
	assert.True(t, time.Date(2019, 3, 4, 5, 6, 7, 123456000, time.UTC).Equal(m.Time), "time %v", m.Time)
	assert.Equal(t, map[string]string{
		"ce_source":     "https://shop.example/orders",
		"ce_type":       "com.example.order.created",
		"ce_subject":    "o-2",
		"ce_dataschema": "https://shop.example/schemas/order",
		"ce_region":     "eu-west-1",
		"ce_priority":   "3",
		"ce_urgent":     "true",
		"content-type":  "application/json",
		"tenant":        "acme",
	}, m.Header)
	assert.JSONEq(t, `{"id": "o-2", "total": 42}`, string(m.Payload))
	assert.Equal(t, []order{{ID: "o-2", Total: 42}}, typed())
}

func (s *suite) testForeignStructuredBase64(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	got := newRecorder()
	s.subscribe(t, b, topic, got.handler, group())
	binary := []byte{0, 1, 2, 0xfe, 0xff}
	s.PublishForeign(t, topic, "", fmt.Appendf(nil,
		`{"specversion":"1.0","id":"b64","source":"/x","type":"t","datacontenttype":"application/octet-stream","data_base64":%q}`,
		base64.StdEncoding.EncodeToString(binary)), map[string]string{"content-type": "application/cloudevents+json"})
	got.waitDistinct(t, s.Timeout, 1)
	msgs, _ := got.snapshot()
	assert.Equal(t, "b64", msgs[0].ID)
	assert.Equal(t, binary, msgs[0].Payload)
	assert.Equal(t, "application/octet-stream", msgs[0].Header["content-type"])
}

func (s *suite) testForeignBatch(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	groupName := uniqueName("group")
	handled := newRecorder()
	s.subscribe(t, b, topic, handled.handler, bus.Group(groupName), fastRetry(3), bus.DeadLetter())
	dead := s.deadLetters(t, s.open(t), topic, groupName)
	batch := []byte(`[{"specversion":"1.0","id":"1","source":"/x","type":"t"}]`)
	s.PublishForeign(t, topic, "", batch, map[string]string{"content-type": "application/cloudevents-batch+json"})
	s.PublishForeign(t, topic, "", []byte("after"), nil)

	handled.waitDistinct(t, s.Timeout, 1)
	dead.waitDistinct(t, s.Timeout, 1)
	letters, _ := dead.snapshot()
	h := letters[0].Header
	assert.Equal(t, batch, letters[0].Payload, "the original bytes")
	assert.Equal(t, "true", h[bus.HeaderDeadLetterPermanent])
	assert.Equal(t, "1", h[bus.HeaderDeadLetterAttempts], "not retried")
	assert.Contains(t, h[bus.HeaderDeadLetterError], "application/cloudevents-batch+json")
	assert.Contains(t, h[bus.HeaderDeadLetterError], "batch mode")
	msgs, _ := handled.snapshot()
	assert.Equal(t, []byte("after"), msgs[0].Payload, "the batch never reached the handler")
}

// memoryDedup is the Dedup middleware on an in-memory store.
func memoryDedup(t *testing.T) bus.Middleware {
	t.Helper()
	mw, err := middleware.Dedup(middleware.NewMemoryStore())
	require.NoError(t, err)
	return mw
}
