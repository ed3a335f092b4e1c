package fifo

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQueueMatchesSlice runs random pushes, drops and deletions on a Queue
// and on a plain slice side by side.
func TestQueueMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q Queue[int]
	var want []int
	next := 0
	for step := range 100_000 {
		switch r := rng.IntN(100); {
		case r < 55:
			q.Push(next)
			want = append(want, next)
			next++
		case r < 98:
			n := rng.IntN(len(want) + 1)
			q.Drop(n)
			want = want[n:]
		default:
			odd := func(v int) bool { return v%2 == 1 }
			q.DeleteFunc(odd)
			want = slices.DeleteFunc(want, odd)
		}
		require.Equal(t, len(want), q.Len(), "step %d", step)
		require.True(t, slices.Equal(want, q.Items()), "step %d: want %v, have %v", step, want, q.Items())
	}
}

// TestQueueSteadyStateAllocatesNothing: a queue that keeps its length
// reuses its array, where a slice resliced from the front allocates.
func TestQueueSteadyStateAllocatesNothing(t *testing.T) {
	var q Queue[*int]
	v := new(int)
	for range 100 {
		q.Push(v)
	}
	// One run of 1,000 rounds: AllocsPerRun divides in integers, which
	// would hide an allocation every few rounds.
	allocs := testing.AllocsPerRun(1, func() {
		for range 1000 {
			for range 10 {
				q.Push(v)
			}
			q.Drop(10)
		}
	})
	require.Zero(t, allocs)
	require.Equal(t, 100, q.Len())

	var s []*int
	for range 100 {
		s = append(s, v)
	}
	resliced := testing.AllocsPerRun(1, func() {
		for range 1000 {
			for range 10 {
				s = append(s, v)
			}
			s = s[10:]
		}
	})
	require.Positive(t, resliced, "the pattern Queue replaces")
}

// TestQueueLetsGoOfDropped: dropped and deleted items no longer hold what
// they point to.
func TestQueueLetsGoOfDropped(t *testing.T) {
	var q Queue[*int]
	for i := range 8 {
		q.Push(&i)
	}
	q.Drop(3)
	q.DeleteFunc(func(p *int) bool { return *p == 5 })
	for i, p := range q.buf[:cap(q.buf)] {
		if i < q.head || i >= len(q.buf) {
			require.Nil(t, p, "slot %d", i)
		}
	}
	require.Equal(t, 4, q.Len())
}

func TestQueueEmptyAndReset(t *testing.T) {
	var q Queue[string]
	require.Zero(t, q.Len())
	require.Empty(t, q.Items())
	q.Push("a")
	q.Push("b")
	q.DeleteFunc(func(string) bool { return true })
	require.Zero(t, q.Len())
	require.Zero(t, q.head, "an emptied queue starts again at its array's start")
	q.Push("c")
	q.Reset()
	require.Zero(t, q.Len())
	require.Nil(t, q.buf)
}
