package kafka_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// TestBrokerDownAndUpMock takes the only broker of the mock cluster down
// and up while messages are published and consumed: nothing is lost.
func TestBrokerDownAndUpMock(t *testing.T) {
	be, mc := mockBackend(t)
	ctx := context.Background()
	topic := be.topic(t, 2)
	eb := be.open(t)
	seen := newSeen()
	sub, err := eb.Subscribe(ctx, topic, seen.handle, bus.Group("g"), bus.Concurrency(4))
	require.NoError(t, err)
	defer sub.Close(ctx)

	const batches, perBatch = 20, 50
	published := make(chan error, 1)
	halfway := make(chan struct{})
	go func() {
		for i := range batches {
			if i == batches/2 {
				close(halfway)
			}
			msgs := make([]*bus.Message, perBatch)
			for j := range msgs {
				msgs[j] = &bus.Message{Key: fmt.Sprint("k", j%7), Payload: []byte(fmt.Sprint(i*perBatch + j))}
			}
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := eb.Publish(pctx, topic, msgs...)
			cancel()
			if err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	<-halfway
	require.NoError(t, mc.SetBrokerDown(1))
	downFor := time.NewTimer(2 * time.Second) // long enough for requests to fail and retry
	<-downFor.C
	require.NoError(t, mc.SetBrokerUp(1))
	select {
	case err := <-published:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("publishing did not finish after the broker came back")
	}
	seen.awaitDistinct(t, batches*perBatch, time.Minute)
}

// seen records distinct payloads and counts duplicates.
type seen struct {
	mu       sync.Mutex
	first    map[string]int // payload → deliveries
	distinct chan struct{}  // one send per new payload
}

func newSeen() *seen {
	return &seen{first: map[string]int{}, distinct: make(chan struct{}, 1<<16)}
}

func (s *seen) handle(_ context.Context, m *bus.Message) error {
	s.mu.Lock()
	s.first[string(m.Payload)]++
	n := s.first[string(m.Payload)]
	s.mu.Unlock()
	if n == 1 {
		s.distinct <- struct{}{}
	}
	return nil
}

func (s *seen) awaitDistinct(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for i := range n {
		select {
		case <-s.distinct:
		case <-deadline:
			require.FailNowf(t, "timeout", "%d of %d distinct messages", i, n)
		}
	}
}

// TestRebalanceReal moves partitions between three members of a group
// mid-stream: nothing is lost and the first deliveries of each key keep
// publish order.
func TestRebalanceReal(t *testing.T) {
	be := realBackend(t)
	ctx := context.Background()
	topic := be.topic(t, 6)
	const total, keys = 10000, 100

	var (
		mu        sync.Mutex
		firstSeq  = map[string][]int{} // key → seqs in first-delivery order
		delivered = map[string]int{}
		progress  = make(chan struct{}, total)
	)
	handler := func(_ context.Context, m *bus.Message) error {
		// Random latency, so handlers are in flight when partitions move.
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		var seq int
		_, err := fmt.Sscanf(string(m.Payload), "%d", &seq)
		if err != nil {
			return bus.Permanent(err)
		}
		mu.Lock()
		delivered[string(m.Payload)]++
		if delivered[string(m.Payload)] == 1 {
			firstSeq[m.Key] = append(firstSeq[m.Key], seq)
			progress <- struct{}{}
		}
		mu.Unlock()
		return nil
	}
	member := func() (*bus.Bus, *bus.Subscription) {
		eb := be.openUnclosed(t)
		sub, err := eb.Subscribe(ctx, topic, handler, bus.Group("rebalance"), bus.Concurrency(8))
		require.NoError(t, err)
		return eb, sub
	}
	closeMember := func(eb *bus.Bus) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		require.NoError(t, eb.Close(cctx))
	}

	a, _ := member()
	pub := be.open(t)
	for start := 0; start < total; start += 500 {
		msgs := make([]*bus.Message, 500)
		for i := range msgs {
			seq := start + i
			msgs[i] = &bus.Message{Key: fmt.Sprint("key-", seq%keys), Payload: fmt.Appendf(nil, "%d", seq)}
		}
		require.NoError(t, pub.Publish(ctx, topic, msgs...))
	}

	await := func(n int) {
		t.Helper()
		deadline := time.After(2 * time.Minute)
		for range n {
			select {
			case <-progress:
			case <-deadline:
				require.FailNow(t, "timeout waiting for deliveries")
			}
		}
	}
	await(1500)
	b, _ := member()
	await(1500)
	c, _ := member()
	await(2000)
	closeMember(a)
	await(2000)
	closeMember(b)
	await(total - 7000)
	closeMember(c)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, delivered, total, "every message delivered")
	duplicates := 0
	for _, n := range delivered {
		duplicates += n - 1
	}
	for key, seqs := range firstSeq {
		for i := 1; i < len(seqs); i++ {
			require.Less(t, seqs[i-1], seqs[i], "key %s: first deliveries out of publish order: %v", key, seqs)
		}
	}
	t.Logf("rebalance: %d messages, %d duplicate deliveries", total, duplicates)
}

// TestPoisonToDeadLetterReal dead-letters a poison message while the rest
// of its partition keeps flowing: the poison's handler waits for every
// other message of the one partition before it fails.
func TestPoisonToDeadLetterReal(t *testing.T) {
	be := realBackend(t)
	ctx := context.Background()
	topic := be.topic(t, 1)
	eb := be.open(t, "create_topics=true", "replication_factor=1")
	const good = 200
	goodSeen := newSeen()
	allGood := make(chan struct{})
	var goodCount sync.WaitGroup
	goodCount.Add(good)
	go func() { goodCount.Wait(); close(allGood) }()
	sub, err := eb.Subscribe(ctx, topic, func(ctx context.Context, m *bus.Message) error {
		if m.Key == "poison" {
			select {
			case <-allGood:
				return fmt.Errorf("poison %s", m.Payload)
			case <-time.After(30 * time.Second):
				return bus.Permanent(fmt.Errorf("the partition stalled behind the poison"))
			}
		}
		if err := goodSeen.handle(ctx, m); err != nil {
			return err
		}
		goodCount.Done()
		return nil
	}, bus.Group("g"), bus.Concurrency(4), bus.DeadLetter(),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, HoldInterval: 100 * time.Millisecond, Multiplier: 2}))
	require.NoError(t, err)
	defer sub.Close(ctx)

	letters := newCollector(1)
	dlq, err := eb.Subscribe(ctx, bus.DefaultDeadLetterTopic(topic, "g"), letters.handle, bus.Group("dlq-reader"))
	require.NoError(t, err)
	defer dlq.Close(ctx)

	msgs := []*bus.Message{{Key: "poison", Payload: []byte("p")}}
	for i := range good {
		msgs = append(msgs, &bus.Message{Key: fmt.Sprint("k", i%10), Payload: []byte(fmt.Sprint(i))})
	}
	require.NoError(t, eb.Publish(ctx, topic, msgs...))
	letter := letters.await(t, 1, time.Minute)[0]
	assert.Equal(t, msgs[0].ID, letter.ID)
	assert.Equal(t, "poison p", letter.Header[bus.HeaderDeadLetterError])
	assert.Equal(t, "0", letter.Header[bus.HeaderDeadLetterPartition])
	assert.Equal(t, "0", letter.Header[bus.HeaderDeadLetterOffset])
	select {
	case <-allGood:
	default:
		t.Fatal("the dead letter arrived before the good messages were handled")
	}
}
