package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// TestManyMembersCloseAtOnce closes 20 members of a group at the same time
// and measures how long a fresh member then waits for its first message:
// members that leave the group cleanly do not make it wait for their
// session timeouts.
func TestManyMembersCloseAtOnce(t *testing.T) {
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) { testManyMembersCloseAtOnce(t, "group_protocol="+protocol) })
	}
}

func testManyMembersCloseAtOnce(t *testing.T, params string) {
	be := realBackend(t)
	topic := be.topic(t, 6)
	group := "closers-" + topic
	const members = 20

	buses := make([]*bus.Bus, members)
	for i := range buses {
		buses[i] = be.openUnclosed(t, params)
		_, err := buses[i].Subscribe(t.Context(), topic, func(context.Context, *bus.Message) error { return nil }, bus.Group(group))
		require.NoError(t, err)
	}
	awaitGroupSize(t, testbroker.Kafka(t), group, members)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, members)
	for i, b := range buses {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			errs[i] = b.Close(ctx)
		})
	}
	wg.Wait()
	closed := time.Since(start)
	for i, err := range errs {
		require.NoError(t, err, "closing member %d", i)
	}

	fresh := be.open(t, params)
	got := make(chan struct{}, 1)
	joinStart := time.Now()
	_, err := fresh.Subscribe(t.Context(), topic, func(context.Context, *bus.Message) error {
		select {
		case got <- struct{}{}:
		default:
		}
		return nil
	}, bus.Group(group))
	require.NoError(t, err)
	require.NoError(t, fresh.Publish(t.Context(), topic, &bus.Message{Key: "k", Payload: []byte("after")}))
	select {
	case <-got:
	case <-time.After(2 * time.Minute):
		t.Fatal("the fresh member got nothing")
	}
	t.Logf("%d members closed at once in %v; a fresh member's first message came %v after it subscribed",
		members, closed.Round(time.Millisecond), time.Since(joinStart).Round(time.Millisecond))
}

// awaitGroupSize waits until the group is stable with n members.
func awaitGroupSize(t *testing.T, servers, group string, n int) {
	t.Helper()
	admin, err := confluent.NewAdminClient(&confluent.ConfigMap{"bootstrap.servers": servers})
	require.NoError(t, err)
	defer admin.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := admin.DescribeConsumerGroups(t.Context(), []string{group})
		if err == nil && len(res.ConsumerGroupDescriptions) == 1 {
			d := res.ConsumerGroupDescriptions[0]
			if len(d.Members) == n && d.State == confluent.ConsumerGroupStateStable {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "the group did not settle with %d members", n)
		// The admin API has no way to wait for a group state.
		time.Sleep(100 * time.Millisecond)
	}
}
