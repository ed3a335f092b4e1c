package main

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	backends.Each(t, run, func(t *testing.T, outcome Outcome, story string) {
		require.Equal(t, []string{"o-1001", "o-1002", "o-1004", "o-1005"}, outcome.Shipped, "every order but the broken one ships\n%s", story)
		require.Len(t, outcome.DeadLetters, 1, story)
		require.Equal(t, brokenOrder, outcome.DeadLetters[0].Key)
		require.Contains(t, outcome.DeadLetters[0].Reason, bus.ErrDecode.Error(), "the dead letter says why")
		require.Contains(t, story, "4 orders shipped, 1 in the dead-letter topic")
	})
}
