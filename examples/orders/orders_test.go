package main

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/stretchr/testify/require"
)

func check(t *testing.T, outcome Outcome, story string) {
	require.Equal(t, []string{"o-1001", "o-1002", "o-1004", "o-1005"}, outcome.Shipped,
		"every order but the broken and the rejected one ships\n%s", story)
	require.Len(t, outcome.DeadLetters, 1, story)
	require.Equal(t, brokenOrder, outcome.DeadLetters[0].Key)
	require.Contains(t, outcome.DeadLetters[0].Reason, bus.ErrDecode.Error(), "the dead letter says why")
	require.Contains(t, story, "rejected order "+rejectedOrder)
	require.Contains(t, story, "4 orders shipped, 1 in the dead-letter topic")
}

// TestRun runs the example on every database and backend.
func TestRun(t *testing.T) { backends.EachDatabase(t, runOn, check) }

// TestRunWithNoSetup runs the example as `go run` does without
// configuration: in memory, on a new SQLite file.
func TestRunWithNoSetup(t *testing.T) { backends.NoSetup(t, run, check) }
