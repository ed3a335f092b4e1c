package failover

import (
	"fmt"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	_ "github.com/eventbus-go/eventbus/kafka"
)

// TestKafkaClusterLeaderKilled publishes a keyed stream to a topic with 3
// replicas and min.insync.replicas=2 and consumes it in a group, while the
// broker leading the first partition is killed with SIGKILL and later
// started again: every acknowledged message is handled, in per-key order.
func TestKafkaClusterLeaderKilled(t *testing.T) {
	bootstrap := testbroker.KafkaCluster(t)
	topic := fmt.Sprintf("failover-%d", time.Now().UnixNano())
	url := "kafka://" + bootstrap + "?create_topics=true&partitions=3&replication_factor=3&session_timeout=10s"
	publisher, consumer := openBus(t, url), openBus(t, url)
	s := newStream(t, topic, 12)
	_, err := consumer.Subscribe(t.Context(), topic, s.handle, bus.Group("failover"), bus.Concurrency(4))
	require.NoError(t, err)
	go s.publish(publisher)
	s.waitAcked(600, time.Minute)

	leader := partitionLeader(t, bootstrap, topic, 0)
	faultAt := time.Now()
	testbroker.KillKafkaClusterNode(t, leader)
	t.Logf("killed node %d, the leader of partition 0, after %d messages", leader, s.ackCount())
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			testbroker.StartKafkaClusterNode(t, leader)
		}
	})
	s.waitAcked(600, time.Minute) // the stream goes on without it
	testbroker.StartKafkaClusterNode(t, leader)
	restarted = true
	t.Logf("started node %d again after %v", leader, time.Since(faultAt).Round(time.Millisecond))
	s.waitAcked(600, time.Minute)
	s.finish(time.Minute, faultAt)
}

// partitionLeader is the node id leading partition of topic.
func partitionLeader(t *testing.T, bootstrap, topic string, partition int32) int32 {
	t.Helper()
	admin, err := confluent.NewAdminClient(&confluent.ConfigMap{"bootstrap.servers": bootstrap})
	require.NoError(t, err)
	defer admin.Close()
	md, err := admin.GetMetadata(&topic, false, 10000)
	require.NoError(t, err)
	for _, p := range md.Topics[topic].Partitions {
		if p.ID == partition {
			require.Len(t, p.Replicas, 3, "replicas of partition %d", partition)
			return p.Leader
		}
	}
	require.FailNowf(t, "no partition", "topic %s has no partition %d", topic, partition)
	return 0
}
