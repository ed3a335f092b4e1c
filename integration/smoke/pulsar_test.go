package smoke

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/internal/testbroker"
)

func TestPulsarPersistentRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := pulsarClient(t)
	topic := "persistent://public/default/smoke-" + uuid.NewString()

	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: topic})
	require.NoError(t, err)
	defer producer.Close()
	_, err = producer.Send(ctx, &pulsar.ProducerMessage{
		Key:        "key-1",
		Payload:    []byte("hello pulsar"),
		Properties: map[string]string{"ce_type": "smoke.test"},
	})
	require.NoError(t, err)

	// A durable subscription created after the send must still see the message.
	consumer, err := client.Subscribe(pulsar.ConsumerOptions{
		Topic:                       topic,
		SubscriptionName:            "smoke",
		Type:                        pulsar.Shared,
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	require.NoError(t, err)
	defer consumer.Close()
	m, err := consumer.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "key-1", m.Key())
	assert.Equal(t, "hello pulsar", string(m.Payload()))
	assert.Equal(t, "smoke.test", m.Properties()["ce_type"])
	require.NoError(t, consumer.Ack(m))
}

func TestPulsarNonPersistentRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := pulsarClient(t)
	topic := "non-persistent://public/default/smoke-" + uuid.NewString()

	// Non-persistent topics keep nothing: subscribe before producing.
	consumer, err := client.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "smoke"})
	require.NoError(t, err)
	defer consumer.Close()
	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: topic})
	require.NoError(t, err)
	defer producer.Close()
	_, err = producer.Send(ctx, &pulsar.ProducerMessage{Payload: []byte("fleeting")})
	require.NoError(t, err)

	m, err := consumer.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "fleeting", string(m.Payload()))
	require.NoError(t, consumer.Ack(m))
}

// TestPulsarKeyShared checks that a Key_Shared subscription spreads keys over
// two consumers, each key going to one consumer only, in publish order.
func TestPulsarKeyShared(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := pulsarClient(t)
	topic := "persistent://public/default/smoke-" + uuid.NewString()
	const keys, perKey = 16, 5

	type received struct {
		consumer int
		key      string
		seq      string
	}
	got := make(chan received, keys*perKey)
	var wg sync.WaitGroup
	for i := range 2 {
		consumer, err := client.Subscribe(pulsar.ConsumerOptions{
			Topic:            topic,
			SubscriptionName: "smoke",
			Type:             pulsar.KeyShared,
		})
		require.NoError(t, err)
		defer consumer.Close()
		wg.Go(func() {
			for {
				m, err := consumer.Receive(ctx)
				if err != nil {
					return // ctx done: the main goroutine reports what is missing
				}
				got <- received{i, m.Key(), string(m.Payload())}
				_ = consumer.Ack(m)
			}
		})
	}

	// Without batching a batch could mix keys; key-based batching or none is
	// what Key_Shared needs.
	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	require.NoError(t, err)
	defer producer.Close()
	for seq := range perKey {
		for k := range keys {
			_, err := producer.Send(ctx, &pulsar.ProducerMessage{
				Key:     fmt.Sprintf("key-%d", k),
				Payload: fmt.Appendf(nil, "%d", seq),
			})
			require.NoError(t, err)
		}
	}

	owner := map[string]int{}
	order := map[string][]string{}
	for n := range keys * perKey {
		select {
		case r := <-got:
			if c, ok := owner[r.key]; ok {
				require.Equal(t, c, r.consumer, "key %s went to two consumers", r.key)
			}
			owner[r.key] = r.consumer
			order[r.key] = append(order[r.key], r.seq)
		case <-ctx.Done():
			t.Fatalf("received %d of %d messages before the timeout", n, keys*perKey)
		}
	}
	cancel()
	wg.Wait()
	for k, seqs := range order {
		assert.Equal(t, []string{"0", "1", "2", "3", "4"}, seqs, "order of %s", k)
	}
	consumersUsed := map[int]bool{}
	for _, c := range owner {
		consumersUsed[c] = true
	}
	assert.Len(t, consumersUsed, 2, "16 keys should be spread over both consumers")
}

func TestPulsarAdmin(t *testing.T) {
	admin := testbroker.PulsarAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var clusters, namespaces []string
	getJSON(ctx, t, admin+"/admin/v2/clusters", &clusters)
	assert.Equal(t, []string{"standalone"}, clusters)
	getJSON(ctx, t, admin+"/admin/v2/namespaces/public", &namespaces)
	assert.Contains(t, namespaces, "public/default")
}

func getJSON(ctx context.Context, t *testing.T, url string, into any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", url)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
}

func pulsarClient(t *testing.T) pulsar.Client {
	t.Helper()
	client, err := pulsar.NewClient(pulsar.ClientOptions{
		URL:               testbroker.Pulsar(t),
		ConnectionTimeout: 10 * time.Second,
		OperationTimeout:  30 * time.Second,
		Logger:            pulsarlog.DefaultNopLogger(),
	})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return client
}
