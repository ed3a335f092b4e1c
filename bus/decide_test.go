package bus

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDecide(t *testing.T) {
	failure := errors.New("transient")
	now := time.Now()
	policy := RetryPolicy{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2, HoldInterval: 3 * time.Second}
	tests := []struct {
		name       string
		run        runResult
		deadLetter bool
		maxElapsed time.Duration
		want       verdict
	}{
		{"success", runResult{}, false, 0, verdict{action: ack}},
		{"success while stopping", runResult{stopping: true}, true, 0, verdict{action: ack}},
		{"success after its partition was withdrawn", runResult{withdrawn: true}, false, 0, verdict{action: ack}},
		{"first failure", runResult{err: failure, failures: 1, firstFailure: now, now: now}, true, 0,
			verdict{action: retry, delay: 100 * time.Millisecond}},
		{"second failure backs off longer", runResult{err: failure, failures: 2, firstFailure: now, now: now}, true, 0,
			verdict{action: retry, delay: 200 * time.Millisecond}},
		{"exhausted with a dead-letter topic", runResult{err: failure, failures: 3, firstFailure: now, now: now}, true, 0,
			verdict{action: deadLetter}},
		{"exhausted without a dead-letter topic holds", runResult{err: failure, failures: 3, firstFailure: now, now: now}, false, 0,
			verdict{action: hold, delay: 3 * time.Second}},
		{"held messages keep running at HoldInterval", runResult{err: failure, failures: 40, firstFailure: now, now: now}, false, 0,
			verdict{action: hold, delay: 3 * time.Second}},
		{"permanent skips retries", runResult{err: Permanent(failure), failures: 1, firstFailure: now, now: now}, true, 0,
			verdict{action: deadLetter}},
		{"permanent without a dead-letter topic holds", runResult{err: Permanent(failure), failures: 1, firstFailure: now, now: now}, false, 0,
			verdict{action: hold, delay: 3 * time.Second}},
		{"failure while stopping is given back, never dead-lettered", runResult{err: failure, failures: 3, firstFailure: now, now: now, stopping: true}, true, 0,
			verdict{action: giveBack}},
		{"failure after withdrawal is given back", runResult{err: Permanent(failure), failures: 1, firstFailure: now, now: now, withdrawn: true}, true, 0,
			verdict{action: giveBack}},
		{"exhausted with a retry stage left parks", runResult{err: failure, failures: 3, firstFailure: now, now: now, stageLeft: true}, true, 0,
			verdict{action: park}},
		{"exhausted with a retry stage left parks, also without a dead-letter topic", runResult{err: failure, failures: 3, firstFailure: now, now: now, stageLeft: true}, false, 0,
			verdict{action: park}},
		{"in-process retries come before the retry stage", runResult{err: failure, failures: 1, firstFailure: now, now: now, stageLeft: true}, true, 0,
			verdict{action: retry, delay: 100 * time.Millisecond}},
		{"permanent skips the retry stages", runResult{err: Permanent(failure), failures: 1, firstFailure: now, now: now, stageLeft: true}, true, 0,
			verdict{action: deadLetter}},
		{"failure while stopping is given back, never parked", runResult{err: failure, failures: 3, firstFailure: now, now: now, stopping: true, stageLeft: true}, true, 0,
			verdict{action: giveBack}},
		{"past MaxElapsed", runResult{err: failure, failures: 1, firstFailure: now.Add(-time.Hour), now: now}, true,
			time.Minute, verdict{action: deadLetter}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			p.MaxElapsed = tt.maxElapsed
			assert.Equal(t, tt.want, decide(tt.run, p, tt.deadLetter))
		})
	}
	t.Run("hold without a HoldInterval waits the default", func(t *testing.T) {
		p := policy
		p.HoldInterval = 0
		got := decide(runResult{err: failure, failures: 3, firstFailure: now, now: now}, p, false)
		assert.Equal(t, verdict{action: hold, delay: DefaultHoldInterval}, got)
	})
}
