package kafka_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/kafka"
)

// Right after a topic's creation the broker's metadata already names each
// partition's leader, but the leader may not serve the partition yet and
// answers "not leader" to the first produce requests. With no linger,
// concurrent publishes keep several requests in flight to each partition;
// when the first fails that way and a later one succeeds, librdkafka's
// idempotent producer takes the earlier messages for written (a broker
// accepts any first sequence number from a producer it does not know on
// the partition) and reports them delivered, with no offset.
const (
	newTopicRounds     = 10
	newTopicPublishers = 8 // one key each
	newTopicEach       = 10
)

// publishToNewTopics publishes newTopicEach messages per publisher, in
// order, to newTopicRounds topics created a moment before (their metadata
// names a leader for each partition), and calls check with each topic.
func publishToNewTopics(t *testing.T, be backend, publish func(ctx context.Context, topic string, m driver.Message) error, check func(topic string)) {
	ctx := t.Context()
	for range newTopicRounds {
		topic := be.topic(t, 3)
		errs := make(chan error, newTopicPublishers*newTopicEach)
		var wg sync.WaitGroup
		for p := range newTopicPublishers {
			wg.Go(func() {
				for i := range newTopicEach {
					errs <- publish(ctx, topic, driver.Message{Key: fmt.Sprint("k", p), Payload: []byte(strconv.Itoa(i))})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		check(topic)
	}
}

// TestPublishToNewTopicReal: Publish waits until a new topic's leaders
// serve it, so every message lands once and each key's in order, with no
// linger.
func TestPublishToNewTopicReal(t *testing.T) {
	be := realBackend(t)
	eb := be.open(t, "linger=0")
	publish := func(ctx context.Context, topic string, m driver.Message) error {
		return eb.Publish(ctx, topic, &bus.Message{Key: m.Key, Payload: m.Payload})
	}
	publishToNewTopics(t, be, publish, func(topic string) {
		byKey := make(map[string][]string)
		for _, m := range readLog(t, be, topic, 3) {
			byKey[string(m.Key)] = append(byKey[string(m.Key)], string(m.Value))
		}
		require.Len(t, byKey, newTopicPublishers, "topic %s", topic)
		want := make([]string, newTopicEach)
		for i := range want {
			want[i] = strconv.Itoa(i)
		}
		for key, got := range byKey {
			require.Equal(t, want, got, "topic %s, key %s: each message once, in order", topic, key)
		}
	})
}

// TestPublishProducesUnconfirmedAgainReal: when a leader stops serving
// after the first-use check (modeled by skipping the check), every message
// Publish confirms is in the log: more than published when one went
// unconfirmed and was produced again, but written after all.
func TestPublishProducesUnconfirmedAgainReal(t *testing.T) {
	be := realBackend(t)
	u, err := url.Parse(be.withParams("linger=0"))
	require.NoError(t, err)
	conn, err := kafka.OpenConn(t.Context(), driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close(context.Background())) })
	publish := func(ctx context.Context, topic string, m driver.Message) error {
		kafka.AssumeTopicServed(conn, topic)
		return conn.Publish(ctx, topic, []driver.Message{m})
	}
	publishToNewTopics(t, be, publish, func(topic string) {
		require.GreaterOrEqual(t, len(readLog(t, be, topic, 3)), newTopicPublishers*newTopicEach, "topic %s lost confirmed messages", topic)
	})
}

// readLog reads every record of the topic's partitions, each partition in
// order.
func readLog(t *testing.T, be backend, topic string, partitions int) []*confluent.Message {
	t.Helper()
	c, err := confluent.NewConsumer(&confluent.ConfigMap{"bootstrap.servers": be.url[len("kafka://"):], "group.id": "eventbus-read-log", "fetch.wait.max.ms": 10})
	require.NoError(t, err)
	defer c.Close()
	var tps []confluent.TopicPartition
	var total int64
	for p := range int32(partitions) {
		low, high, err := c.QueryWatermarkOffsets(topic, p, int(10*time.Second/time.Millisecond))
		require.NoError(t, err)
		tps = append(tps, confluent.TopicPartition{Topic: &topic, Partition: p, Offset: confluent.Offset(low)})
		total += high - low
	}
	require.NoError(t, c.Assign(tps))
	out := make([]*confluent.Message, 0, total)
	for int64(len(out)) < total {
		m, err := c.ReadMessage(10 * time.Second)
		require.NoError(t, err, "topic %s: read %d of %d records", topic, len(out), total)
		out = append(out, m)
	}
	return out
}

// requireServed requires the leader of each of topic's partitions to
// answer a list-offsets request at once, with no retry.
func requireServed(t *testing.T, be backend, topic string, partitions int) {
	t.Helper()
	c, err := confluent.NewConsumer(&confluent.ConfigMap{"bootstrap.servers": be.url[len("kafka://"):], "group.id": "eventbus-served"})
	require.NoError(t, err)
	defer c.Close()
	for p := range int32(partitions) {
		_, _, err := c.QueryWatermarkOffsets(topic, p, int(10*time.Second/time.Millisecond))
		require.NoError(t, err, "topic %s partition %d", topic, p)
	}
}

// TestCreateTopicWaitsUntilServedReal: when CreateTopic returns, the
// leader of each partition serves it.
func TestCreateTopicWaitsUntilServedReal(t *testing.T) {
	be := realBackend(t)
	eb := be.open(t)
	for range 5 {
		topic := fmt.Sprintf("eventbus-test-served-%d-%d", time.Now().UnixNano(), topicSeq.Add(1))
		require.NoError(t, eb.CreateTopic(t.Context(), topic, 3))
		requireServed(t, be, topic, 3)
	}
}

// TestFirstUseWaitsUntilServedReal: the check Publish makes on its first
// use of a topic another client created a moment before returns once the
// leader of each partition serves it.
func TestFirstUseWaitsUntilServedReal(t *testing.T) {
	be := realBackend(t)
	u, err := url.Parse(be.url)
	require.NoError(t, err)
	conn, err := kafka.OpenConn(t.Context(), driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close(context.Background())) })
	for range 5 {
		topic := be.topic(t, 3)
		require.NoError(t, kafka.EnsureServed(t.Context(), conn, topic))
		requireServed(t, be, topic, 3)
	}
}

// TestFirstPublishGoesOnWithALeaderAwayMock: a partition whose leader
// stays away holds the first Publish to its topic up no longer than the
// leader wait (delivery_timeout here): the messages for the other
// partitions are delivered, and only those for the away leader fail.
func TestFirstPublishGoesOnWithALeaderAwayMock(t *testing.T) {
	mc, err := confluent.NewMockCluster(3)
	require.NoError(t, err)
	t.Cleanup(mc.Close)
	const topic = "leader-away"
	require.NoError(t, mc.CreateTopic(topic, 3, 1))
	require.NoError(t, mc.SetBrokerDown(2))
	eb := backend{url: "kafka://" + mc.BootstrapServers()}.open(t, "delivery_timeout=2s")
	msgs := make([]*bus.Message, 30)
	for i := range msgs {
		msgs[i] = &bus.Message{Key: fmt.Sprint("k", i), Payload: []byte("x")}
	}
	err = eb.Publish(t.Context(), topic, msgs...)
	var perr *bus.PublishError
	require.ErrorAs(t, err, &perr)
	require.NotEmpty(t, perr.Failed, "the away leader's partition takes none")
	require.Less(t, len(perr.Failed), len(msgs), "the other partitions take theirs")
}
