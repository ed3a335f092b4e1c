package main

import (
	"testing"

	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/stretchr/testify/require"
)

func check(t *testing.T, outcome Outcome, story string) {
	require.Equal(t, map[string]int{"req-1": 1, "req-2": 1, "req-3": 1}, outcome.Sent,
		"every email sent exactly once, the greylisted one included\n%s", story)
	require.Len(t, outcome.Confirmed, len(requests), story)
	for _, r := range requests {
		sent := outcome.Confirmed[r.RequestId]
		require.NotNil(t, sent, "request %s answered", r.RequestId)
		require.Equal(t, r.RequestId, sent.CorrelationId)
		require.Equal(t, r.To, sent.To, "the reply answered request %s", r.RequestId)
	}
	require.Contains(t, outcome.SkippedAfterRestart, ackLostFor,
		"the restarted mail service skipped the redelivery after the lost ack\n%s", story)
	require.Contains(t, story, "greylisted", "the mail server turned an email away once")
}

// TestRun runs the example on every database and backend.
func TestRun(t *testing.T) { backends.EachDatabase(t, runOn, check) }

// TestRunWithNoSetup runs the example as `go run` does without
// configuration: in memory, on a new SQLite file.
func TestRunWithNoSetup(t *testing.T) { backends.NoSetup(t, run, check) }
