package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bench"
)

// TestMain lets the test binary serve as the contenders' processes, as
// the command does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := runChild(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCompareMemory runs the whole command on memory: child processes,
// medians, the Markdown and JSON files.
func TestCompareMemory(t *testing.T) {
	dir := t.TempDir()
	cfg := bench.DefaultConfig()
	cfg.Duration = 100 * time.Millisecond
	o := options{runs: 2, subsRuns: 1, backends: []string{"memory"}, subscriptions: []int{1, 3},
		out: filepath.Join(dir, "latest.md"), note: "a test", cfg: cfg, load: newLoadRange()}
	require.NoError(t, compare(context.Background(), o, filepath.Join(dir, "latest.log")))

	md, err := os.ReadFile(o.out)
	require.NoError(t, err)
	table := string(md)
	assert.Contains(t, table, "median of 2 runs")
	assert.Contains(t, table, "- a test")
	assert.Contains(t, table, "- Load average (1 minute) while measuring: ")
	for _, row := range []string{"| publish → handler, 1 message per Publish | eventbus |", "| publish → handler, 1 message per Publish | watermill |", "| eventbus | 1 |", "| eventbus | 3 |"} {
		assert.Contains(t, table, row)
	}
	assert.NotContains(t, table, "failed")

	raw, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	require.NoError(t, err)
	var outcomes []bench.Outcome
	require.NoError(t, json.Unmarshal(raw, &outcomes))
	assert.Len(t, outcomes, 2*2+2, "two contenders twice, two subscription counts once")
	for _, o := range outcomes {
		assert.Empty(t, o.Error)
		require.NotNil(t, o.Result)
	}
	logs, err := os.ReadFile(filepath.Join(dir, "latest.log"))
	require.NoError(t, err)
	assert.Equal(t, len(outcomes), strings.Count(string(logs), "== run "))
}
