package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apachepulsar "github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/pulsar"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTripAndEscapeHatches(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, "")
	topic := newTopic(t)
	got := subscribeChan(t, b, topic, bus.Group("g"))

	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	sent := &bus.Message{Key: "k1", Payload: []byte("hello"), Time: at,
		Header: map[string]string{"x-user": "u", "ce_type": "com.example.order"}}
	require.NoError(t, b.Publish(ctx, topic, sent))

	m := receive(t, got, "the message")
	assert.Equal(t, sent.ID, m.ID)
	assert.Equal(t, "k1", m.Key)
	assert.Equal(t, []byte("hello"), m.Payload)
	assert.True(t, at.Equal(m.Time), "time %v", m.Time)
	assert.Equal(t, sent.Header, m.Header)
	assert.Equal(t, 1, m.Attempt)

	var cm apachepulsar.ConsumerMessage
	require.True(t, m.As(&cm))
	assert.Equal(t, "persistent://public/default/"+topic, cm.Topic())
	assert.Equal(t, "k1", cm.Key())
	assert.Equal(t, map[string]string{
		"ce_id":   sent.ID,
		"ce_time": "2026-01-02T03:04:05.000000006Z", // finer than the event time's milliseconds
		"ce_type": "com.example.order",
		"x-user":  "u",
	}, cm.Properties())
	assert.True(t, at.Truncate(time.Millisecond).Equal(cm.EventTime()), "event time has millisecond precision")
	var pm apachepulsar.Message
	require.True(t, m.As(&pm))
	assert.Equal(t, cm.ID().String(), pm.ID().String())

	var client apachepulsar.Client
	require.True(t, b.As(&client))
	assert.NotNil(t, client)
	assert.False(t, b.As(new(int)))
}

func TestKeySharedOrderingAcrossCompetingConsumers(t *testing.T) {
	ctx := context.Background()
	topic := newTopic(t)
	const keys, perKey = 12, 40

	var mu sync.Mutex
	seen := make(map[string]bool)    // "key/seq" delivered at least once
	firsts := make(map[string][]int) // per key: seqs in order of first delivery
	byConsumer := make(map[int]int)  // deliveries per consumer
	all := make(chan struct{})
	for c := range 3 {
		b := openBus(t, "")
		sub, err := b.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error {
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) // handler latency
			seq, err := strconv.Atoi(string(m.Payload))
			if err != nil {
				return bus.Permanent(err)
			}
			mu.Lock()
			defer mu.Unlock()
			byConsumer[c]++
			id := m.Key + "/" + string(m.Payload)
			if !seen[id] {
				seen[id] = true
				firsts[m.Key] = append(firsts[m.Key], seq)
				if len(seen) == keys*perKey {
					close(all)
				}
			}
			return nil
		}, bus.Group("g"), bus.Concurrency(4))
		require.NoError(t, err)
		defer closeSub(t, sub)
	}

	pub := openBus(t, "")
	var wg sync.WaitGroup
	errs := make(chan error, keys)
	for k := range keys {
		wg.Go(func() {
			for seq := range perKey {
				m := &bus.Message{Key: fmt.Sprintf("key-%d", k), Payload: []byte(strconv.Itoa(seq))}
				if err := pub.Publish(ctx, topic, m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	receive(t, all, "every message")

	mu.Lock()
	defer mu.Unlock()
	for k := range keys {
		key := fmt.Sprintf("key-%d", k)
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		assert.Equal(t, want, firsts[key], "first deliveries of %s out of order", key)
	}
	t.Logf("deliveries per consumer: %v", byConsumer)
}

func TestReopenedSubscriptionResumesWithNothingLost(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, "")
	topic := newTopic(t)
	const total = 100

	publish := func(from, to int) {
		msgs := make([]*bus.Message, 0, to-from)
		for i := from; i < to; i++ {
			msgs = append(msgs, &bus.Message{Key: strconv.Itoa(i % 7), Payload: []byte(strconv.Itoa(i))})
		}
		require.NoError(t, b.Publish(ctx, topic, msgs...))
	}
	var mu sync.Mutex
	handled := make(map[string]bool)
	progress := make(chan int, 2*total)
	handler := func(_ context.Context, m *bus.Message) error {
		mu.Lock()
		handled[string(m.Payload)] = true
		n := len(handled)
		mu.Unlock()
		progress <- n
		return nil
	}
	waitFor := func(n int) {
		for receive(t, progress, fmt.Sprintf("%d messages handled", n)) < n {
		}
	}

	publish(0, total/2)
	sub, err := b.Subscribe(ctx, topic, handler, bus.Group("g"))
	require.NoError(t, err)
	waitFor(total / 4)
	closeSub(t, sub)

	publish(total/2, total) // while nobody is subscribed
	sub, err = b.Subscribe(ctx, topic, handler, bus.Group("g"))
	require.NoError(t, err)
	defer closeSub(t, sub)
	waitFor(total)
	mu.Lock()
	defer mu.Unlock()
	for i := range total {
		assert.True(t, handled[strconv.Itoa(i)], "message %d lost", i)
	}
}

func TestNonDefaultTenantAndNamespace(t *testing.T) {
	ctx := context.Background()
	tenant := "eventbus-" + strings.ToLower(newTopic(t)[len(newTopic(t))-10:])
	adminPut(t, "/admin/v2/tenants/"+tenant, "application/json", `{"allowedClusters":["standalone"]}`)
	adminPut(t, "/admin/v2/namespaces/"+tenant+"/orders", "", "")

	b := openBus(t, "tenant="+tenant+"&namespace=orders")
	topic := newTopic(t)
	got := subscribeChan(t, b, topic, bus.Group("g"))

	// A bare name on the namespaced bus and the full name on a default one
	// reach the same topic.
	require.NoError(t, b.Publish(ctx, topic, &bus.Message{Payload: []byte("bare")}))
	other := openBus(t, "")
	require.NoError(t, other.Publish(ctx, "persistent://"+tenant+"/orders/"+topic, &bus.Message{Payload: []byte("full")}))

	payloads := map[string]bool{}
	for range 2 {
		m := receive(t, got, "a message")
		payloads[string(m.Payload)] = true
		var pm apachepulsar.Message
		require.True(t, m.As(&pm))
		assert.Equal(t, "persistent://"+tenant+"/orders/"+topic, pm.Topic())
	}
	assert.Equal(t, map[string]bool{"bare": true, "full": true}, payloads)
}

func TestPoisonMessageGoesToDeadLetterTopicOnPartitionedTopic(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, "")
	topic := newTopic(t)
	adminPut(t, "/admin/v2/persistent/public/default/"+topic+"/partitions", "application/json", "3")

	const total = 20
	handled := make(chan string, 4*total)
	sub, err := b.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error {
		if string(m.Payload) == "poison" {
			return errors.New("cannot digest poison")
		}
		handled <- string(m.Payload)
		return nil
	}, bus.Group("g"), bus.DeadLetter(), bus.Concurrency(4),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, HoldInterval: 50 * time.Millisecond, Multiplier: 2}))
	require.NoError(t, err)
	defer closeSub(t, sub)

	letters := subscribeChan(t, b, bus.DefaultDeadLetterTopic(topic, "g"), bus.Group("inspect"))

	msgs := make([]*bus.Message, total)
	for i := range msgs {
		msgs[i] = &bus.Message{Key: "k" + strconv.Itoa(i), Payload: []byte(strconv.Itoa(i))}
	}
	msgs[7].Payload = []byte("poison")
	require.NoError(t, b.Publish(ctx, topic, msgs...))

	ok := map[string]bool{}
	for len(ok) < total-1 {
		ok[receive(t, handled, "the healthy messages")] = true
	}
	assert.NotContains(t, ok, "poison")

	letter := receive(t, letters, "the dead letter")
	assert.Equal(t, msgs[7].ID, letter.ID)
	assert.Equal(t, "k7", letter.Key)
	assert.Equal(t, []byte("poison"), letter.Payload)
	assert.Equal(t, "cannot digest poison", letter.Header[bus.HeaderDeadLetterError])
	assert.Equal(t, "3", letter.Header[bus.HeaderDeadLetterAttempts])
	assert.Equal(t, topic, letter.Header[bus.HeaderDeadLetterOriginalTopic])
	assert.Equal(t, "g", letter.Header[bus.HeaderDeadLetterGroup])
	partition, err := strconv.Atoi(letter.Header[bus.HeaderDeadLetterPartition])
	require.NoError(t, err, "partition header %q", letter.Header[bus.HeaderDeadLetterPartition])
	assert.True(t, partition >= 0 && partition < 3, "partition %d", partition)
	assert.NotContains(t, letter.Header, bus.HeaderDeadLetterOffset)
}

func TestNackedMessageIsRedeliveredWithItsAttempt(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, "")
	topic := newTopic(t)
	attempts := make(chan int, 4)
	sub, err := b.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error {
		attempts <- m.Attempt
		if m.Attempt < 2 {
			return errors.New("not yet")
		}
		return nil
	}, bus.Group("g"), bus.Retry(bus.RetryPolicy{MaxAttempts: 1, HoldInterval: 300 * time.Millisecond, Multiplier: 1}))
	require.NoError(t, err)
	defer closeSub(t, sub)

	require.NoError(t, b.Publish(ctx, topic, &bus.Message{Payload: []byte("x")}))
	assert.Equal(t, 1, receive(t, attempts, "the first delivery"))
	assert.Equal(t, 2, receive(t, attempts, "the redelivery"), "Attempt must come from the redelivery count")
}

func TestLargeMessageAndPartialPublishFailure(t *testing.T) {
	ctx := context.Background()
	// Raise the driver's limit past the broker's 5 MB so the broker-side
	// check is what fails the middle message.
	b := openBus(t, "maxMessageBytes=16777216")
	topic := newTopic(t)
	got := subscribeChan(t, b, topic, bus.Group("g"))

	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i)
	}
	require.NoError(t, b.Publish(ctx, topic, &bus.Message{Payload: big}))
	m := receive(t, got, "the 1 MiB message")
	assert.Equal(t, big, m.Payload)

	err := b.Publish(ctx, topic,
		&bus.Message{Payload: []byte("a")}, &bus.Message{Payload: make([]byte, 6<<20)}, &bus.Message{Payload: []byte("c")})
	var pe *bus.PublishError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Failed, 1)
	assert.Equal(t, 1, pe.Failed[0].Index)
	assert.Equal(t, 3, pe.Total)
}

func TestMessageTooLargeForDefaultLimit(t *testing.T) {
	b := openBus(t, "")
	err := b.Publish(context.Background(), newTopic(t), &bus.Message{Payload: make([]byte, 5<<20)})
	assert.ErrorIs(t, err, bus.ErrMessageTooLarge)
}

func TestSubscriptionTypes(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, "")
	topic := newTopic(t)
	for _, typ := range []pulsar.Type{pulsar.Shared, pulsar.Failover, pulsar.Exclusive, pulsar.KeyShared} {
		typTopic := topic + "-" + strings.ToLower(typ.String())
		got := subscribeChan(t, b, typTopic, bus.Group("g"), pulsar.SubscriptionType(typ))
		require.NoError(t, b.Publish(ctx, typTopic, &bus.Message{Payload: []byte(typ.String())}))
		assert.Equal(t, typ.String(), string(receive(t, got, typ.String()).Payload))
	}

	// A second Exclusive consumer in the same group is refused.
	sub, err := b.Subscribe(ctx, topic, func(context.Context, *bus.Message) error { return nil },
		bus.Group("solo"), pulsar.SubscriptionType(pulsar.Exclusive))
	require.NoError(t, err)
	defer closeSub(t, sub)
	_, err = openBus(t, "").Subscribe(ctx, topic, func(context.Context, *bus.Message) error { return nil },
		bus.Group("solo"), pulsar.SubscriptionType(pulsar.Exclusive))
	assert.Error(t, err)
}

func TestEphemeralSubscriptionStartsAtLatest(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, "")
	topic := newTopic(t)
	require.NoError(t, b.Publish(ctx, topic, &bus.Message{Payload: []byte("before")}))
	got := subscribeChan(t, b, topic)
	require.NoError(t, b.Publish(ctx, topic, &bus.Message{Payload: []byte("after")}))
	assert.Equal(t, "after", string(receive(t, got, "the message published after subscribing").Payload))
}

// With eager flushing a Publish does not wait for its batch to fill or for
// batchingMaxPublishDelay: here the delay is an hour and batches could hold
// a thousand messages, yet concurrent single-message publishes, some added
// while a flush is in flight, all return, on a plain and on a partitioned
// topic.
func TestEagerFlushSendsBatchesWithoutWaitingForTheDelay(t *testing.T) {
	b := openBus(t, "batchingMaxPublishDelay=1h&batchingMaxMessages=1000")
	plain, partitioned := newTopic(t), newTopic(t)
	adminPut(t, "/admin/v2/persistent/public/default/"+partitioned+"/partitions", "application/json", "3")
	for _, topic := range []string{plain, partitioned} {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Go(func() {
				errs <- b.Publish(ctx, topic, &bus.Message{Key: strconv.Itoa(i % 7), Payload: []byte("m")})
			})
		}
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "topic %s", topic)
		}
	}
}
