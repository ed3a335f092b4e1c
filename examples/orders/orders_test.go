package main

import (
	"bytes"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/eventbus-go/eventbus/examples/internal/example"
	"github.com/eventbus-go/eventbus/internal/testdb"
	"github.com/eventbus-go/eventbus/outbox"
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
func TestRun(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		backends.Each(t, runOn(db.DB), check)
	})
}

// TestRunWithNoSetup runs the example as `go run` does without
// configuration: in memory, on a new SQLite file.
func TestRunWithNoSetup(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	var story bytes.Buffer
	outcome, err := example.Run(t.Context(), "mem://", run, &story)
	require.NoError(t, err, story.String())
	check(t, outcome, story.String())
}
