package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// The subscriptions of one bus to one group share a consumer under the
// KIP-848 group protocol: the group sees one member, however many topics
// the bus subscribes to. Under the classic protocol each subscription is a
// member of its own (TestClassicSubscriptionsAreMembersOfTheirOwn).

func forEachGroupProtocol(t *testing.T, test func(t *testing.T, param string)) {
	t.Run("consumer", func(t *testing.T) { test(t, "group_protocol=consumer") })
}

// ids records the IDs a handler was given, and signals when it has n
// distinct ones.
type ids struct {
	mu   sync.Mutex
	seen map[string]int
	n    int
	all  chan struct{}
}

func newIDs(n int) *ids { return &ids{seen: make(map[string]int), n: n, all: make(chan struct{})} }

func (r *ids) handle(_ context.Context, m *bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[m.ID]++
	if len(r.seen) == r.n && r.seen[m.ID] == 1 {
		close(r.all)
	}
	return nil
}

// await fails the test unless the handler has had n distinct messages
// within the timeout.
func (r *ids) await(t *testing.T, what string) {
	t.Helper()
	select {
	case <-r.all:
	case <-time.After(time.Minute):
		r.mu.Lock()
		defer r.mu.Unlock()
		require.FailNowf(t, "timeout", "%s: %d of %d messages", what, len(r.seen), r.n)
	}
}

// handledOnce checks that each of the IDs was handled exactly once.
func (r *ids) handledOnce(t *testing.T, want []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.seen, len(want))
	for _, id := range want {
		assert.Equal(t, 1, r.seen[id], "times %s was handled", id)
	}
}

// publishN publishes n messages with IDs prefix-0… to topic.
func publishN(t *testing.T, eb *bus.Bus, topic, prefix string, n int) []string {
	t.Helper()
	msgs := make([]*bus.Message, n)
	want := make([]string, n)
	for i := range msgs {
		want[i] = fmt.Sprintf("%s-%d", prefix, i)
		msgs[i] = &bus.Message{ID: want[i], Key: fmt.Sprintf("k%d", i%7), Payload: []byte(want[i])}
	}
	require.NoError(t, eb.Publish(t.Context(), topic, msgs...))
	return want
}

func TestClassicSubscriptionsAreMembersOfTheirOwn(t *testing.T) {
	be := realBackend(t)
	eb := be.open(t, "group_protocol=classic")
	group := "classic-" + be.topic(t, 1)
	for range 2 {
		topic := be.topic(t, 1)
		got := newIDs(1)
		_, err := eb.Subscribe(t.Context(), topic, got.handle, bus.Group(group))
		require.NoError(t, err)
		publishN(t, eb, topic, topic, 1)
		got.await(t, topic)
	}
	awaitGroupSize(t, testbroker.Kafka(t), group, 2)
}

func TestSubscriptionsOfAGroupShareAMember(t *testing.T) {
	forEachGroupProtocol(t, func(t *testing.T, param string) {
		be := realBackend(t)
		eb := be.open(t, param)
		group := "shared-" + be.topic(t, 1)
		const topics, each = 3, 30
		for i := range topics {
			topic := be.topic(t, 3)
			got := newIDs(each)
			_, err := eb.Subscribe(t.Context(), topic, got.handle, bus.Group(group))
			require.NoError(t, err)
			want := publishN(t, eb, topic, topic, each)
			got.await(t, fmt.Sprintf("topic %d", i))
			got.handledOnce(t, want)
		}
		awaitGroupSize(t, testbroker.Kafka(t), group, 1)
	})
}

// TestClosingOneSubscriptionOfASharedMember closes one of two
// subscriptions of a member: the other goes on, and the closed one's
// commit holds, so that subscribing again hands out only what came after.
func TestClosingOneSubscriptionOfASharedMember(t *testing.T) {
	forEachGroupProtocol(t, func(t *testing.T, param string) {
		be := realBackend(t)
		eb := be.open(t, param)
		closing, staying := be.topic(t, 3), be.topic(t, 3)
		group := "leave-" + closing
		const n = 50

		first, other := newIDs(n), newIDs(2*n)
		sub, err := eb.Subscribe(t.Context(), closing, first.handle, bus.Group(group))
		require.NoError(t, err)
		_, err = eb.Subscribe(t.Context(), staying, other.handle, bus.Group(group))
		require.NoError(t, err)
		wantFirst := publishN(t, eb, closing, "before", n)
		wantOther := publishN(t, eb, staying, "before", n)
		first.await(t, "before the close")

		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		require.NoError(t, sub.Close(ctx))
		first.handledOnce(t, wantFirst)

		wantOther = append(wantOther, publishN(t, eb, staying, "after", n)...)
		wantAgain := publishN(t, eb, closing, "after", n)
		other.await(t, "the subscription that stayed")
		other.handledOnce(t, wantOther)

		again := newIDs(n)
		_, err = eb.Subscribe(t.Context(), closing, again.handle, bus.Group(group))
		require.NoError(t, err)
		again.await(t, "subscribed again")
		// Published after the close, behind the commit: none of the
		// first n comes again.
		assert.Never(t, func() bool {
			again.mu.Lock()
			defer again.mu.Unlock()
			return len(again.seen) > n
		}, time.Second, 50*time.Millisecond)
		again.handledOnce(t, wantAgain)
		awaitGroupSize(t, testbroker.Kafka(t), group, 1)
	})
}

// TestBusySubscriptionLeavesItsGroupMembersGoing blocks one subscription's
// handler while its queue fills: the member's other subscription still
// gets everything, and the blocked one, once released, loses nothing.
func TestBusySubscriptionLeavesItsGroupMembersGoing(t *testing.T) {
	forEachGroupProtocol(t, func(t *testing.T, param string) {
		be := realBackend(t)
		eb := be.open(t, param, "receive_buffer=8")
		busy, free := be.topic(t, 2), be.topic(t, 2)
		group := "busy-" + busy
		const n = 1000

		release := make(chan struct{})
		blocked := newIDs(n)
		_, err := eb.Subscribe(t.Context(), busy, func(ctx context.Context, m *bus.Message) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return blocked.handle(ctx, m)
		}, bus.Group(group), bus.Concurrency(1))
		require.NoError(t, err)
		going := newIDs(n)
		_, err = eb.Subscribe(t.Context(), free, going.handle, bus.Group(group))
		require.NoError(t, err)

		wantBlocked := publishN(t, eb, busy, "busy", n)
		wantGoing := publishN(t, eb, free, "free", n)
		going.await(t, "beside a blocked subscription")
		going.handledOnce(t, wantGoing)

		close(release)
		blocked.await(t, "once released")
		blocked.handledOnce(t, wantBlocked)
	})
}

// TestSharedMembersHandOverTopics moves two topics between the members of
// a group while messages flow: a second bus joins, then the first closes.
// Every message is handled once: revoked partitions of both topics are
// committed before they move.
func TestSharedMembersHandOverTopics(t *testing.T) {
	forEachGroupProtocol(t, func(t *testing.T, param string) {
		be := realBackend(t)
		topics := []string{be.topic(t, 4), be.topic(t, 4)}
		group := "handover-" + topics[0]
		const each = 600
		got := map[string]*ids{topics[0]: newIDs(each), topics[1]: newIDs(each)}
		subscribe := func(eb *bus.Bus) {
			for _, topic := range topics {
				_, err := eb.Subscribe(t.Context(), topic, got[topic].handle, bus.Group(group), bus.Concurrency(4))
				require.NoError(t, err)
			}
		}
		first := be.openUnclosed(t, param)
		subscribe(first)
		publisher := be.open(t)
		want := map[string][]string{}
		publish := func(part string) {
			for _, topic := range topics {
				want[topic] = append(want[topic], publishN(t, publisher, topic, part, each/3)...)
			}
		}

		publish("one")
		second := be.open(t, param)
		subscribe(second)
		publish("two")
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		require.NoError(t, first.Close(ctx))
		publish("three")
		for _, topic := range topics {
			got[topic].await(t, topic)
			got[topic].handledOnce(t, want[topic])
		}
		awaitGroupSize(t, testbroker.Kafka(t), group, 1)
	})
}
