package pulsar_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	apachepulsar "github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus"
	"github.com/stretchr/testify/require"
)

// The driver keeps a producer per partition; like pulsar-client-go's
// partitioned producer it finds partitions added to the topic later, and
// routes keys to them too.
func TestPublishReachesPartitionsAddedLater(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, "partitionsAutoDiscoveryInterval=1s")
	topic := newTopic(t)
	path := "/admin/v2/persistent/public/default/" + topic + "/partitions"
	adminPut(t, path, "application/json", "2")
	require.NoError(t, b.Publish(ctx, topic, &bus.Message{Key: "k", Payload: []byte("before")}))

	adminCall(t, "POST", path, "application/json", "4")
	consumer, err := rawClient(t).Subscribe(apachepulsar.ConsumerOptions{
		Topic: "persistent://public/default/" + topic + "-partition-3", SubscriptionName: "check",
		SubscriptionInitialPosition: apachepulsar.SubscriptionPositionEarliest,
	})
	require.NoError(t, err)
	defer consumer.Close()
	got := make(chan apachepulsar.Message, 1)
	go func() {
		if m, err := consumer.Receive(ctx); err == nil {
			got <- m
		}
	}()
	msgs := make([]*bus.Message, 20)
	for i := range msgs {
		msgs[i] = &bus.Message{Key: "k" + strconv.Itoa(i), Payload: []byte("after")}
	}
	deadline := time.After(waitTimeout)
	for {
		require.NoError(t, b.Publish(ctx, topic, msgs...))
		select {
		case m := <-got:
			require.Equal(t, "after", string(m.Payload()))
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("no message reached the partition added later")
		}
	}
}
