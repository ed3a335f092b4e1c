package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// testTransactional turns inputs into outputs with a transactional handler
// whose first run of every third message fails after publishing: each
// output is seen once, in per-key order. A backend without transactions
// must refuse the subscription instead.
func (s *suite) testTransactional(t *testing.T) {
	b := s.open(t)
	in, out := s.topic(t), s.topic(t)
	var (
		mu   sync.Mutex
		runs = make(map[string]int)
	)
	transform := func(ctx context.Context, m *bus.Message) error {
		if err := b.Publish(ctx, out, &bus.Message{Key: m.Key, Payload: append([]byte("out/"), m.Payload...)}); err != nil {
			return err
		}
		mu.Lock()
		runs[string(m.Payload)]++
		first := runs[string(m.Payload)] == 1
		mu.Unlock()
		var seq int
		if _, err := fmt.Sscanf(string(m.Payload), "in-%d", &seq); err != nil {
			return bus.Permanent(err)
		}
		if first && seq%3 == 0 {
			return errors.New("fails once after publishing: the output must not count")
		}
		return nil
	}
	if !s.Transactions {
		_, err := b.Subscribe(t.Context(), in, transform, group(), bus.Transactional())
		require.ErrorIs(t, err, bus.ErrUnsupported, "a backend without transactions refuses them")
		return
	}

	r := newRecorder()
	s.subscribe(t, b, out, r.handler, group())
	s.subscribe(t, b, in, transform, group(), bus.Transactional(), bus.Concurrency(8), fastRetry(5))
	const n, keys = 300, 12
	s.publish(t, b, in, numbered("in", n, keys)...)
	r.waitDistinct(t, s.Timeout, n)

	msgs, _ := r.snapshot()
	seen := make(map[string]int)
	order := make(map[string][]int)
	for _, m := range msgs {
		seen[string(m.Payload)]++
		var seq int
		_, err := fmt.Sscanf(string(m.Payload), "out/in-%d", &seq)
		require.NoError(t, err)
		order[m.Key] = append(order[m.Key], seq)
	}
	assert.Len(t, seen, n, "every input has its output")
	for payload, times := range seen {
		assert.Equal(t, 1, times, "output %s", payload)
	}
	for key, seqs := range order {
		for i := 1; i < len(seqs); i++ {
			assert.Less(t, seqs[i-1], seqs[i], "outputs of %s in order: %v", key, seqs)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Greater(t, len(runs), 0)
	assert.Equal(t, n+(n+2)/3, sumRuns(runs), "each input ran once, those failing once twice")
}

func sumRuns(runs map[string]int) int {
	total := 0
	for _, n := range runs {
		total += n
	}
	return total
}
