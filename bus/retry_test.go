package bus

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultRetryPolicyIsValid(t *testing.T) {
	p := DefaultRetryPolicy()
	require.NoError(t, p.validate())
	assert.Equal(t, 5, p.MaxAttempts)
}

func TestRetryPolicyValidate(t *testing.T) {
	valid := RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Second, Multiplier: 2, Jitter: 0.5}
	require.NoError(t, valid.validate())

	tests := []struct {
		name   string
		change func(*RetryPolicy)
		want   string // the field the error must name
	}{
		{"zero attempts", func(p *RetryPolicy) { p.MaxAttempts = 0 }, "MaxAttempts"},
		{"negative attempts", func(p *RetryPolicy) { p.MaxAttempts = -1 }, "MaxAttempts"},
		{"negative InitialBackoff", func(p *RetryPolicy) { p.InitialBackoff = -time.Millisecond }, "negative"},
		{"negative MaxBackoff", func(p *RetryPolicy) { p.InitialBackoff, p.MaxBackoff = -2, -1 }, "negative"},
		{"negative MaxElapsed", func(p *RetryPolicy) { p.MaxElapsed = -time.Second }, "negative"},
		{"negative HoldInterval", func(p *RetryPolicy) { p.HoldInterval = -time.Second }, "negative"},
		{"MaxBackoff below InitialBackoff", func(p *RetryPolicy) { p.MaxBackoff = time.Microsecond }, "MaxBackoff"},
		{"Multiplier just below 1", func(p *RetryPolicy) { p.Multiplier = 0.99 }, "Multiplier"},
		{"Multiplier small", func(p *RetryPolicy) { p.Multiplier = 0.01 }, "Multiplier"},
		{"Multiplier negative", func(p *RetryPolicy) { p.Multiplier = -2 }, "Multiplier"},
		{"Jitter negative", func(p *RetryPolicy) { p.Jitter = -0.1 }, "Jitter"},
		{"Jitter above 1", func(p *RetryPolicy) { p.Jitter = 1.01 }, "Jitter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid
			tt.change(&p)
			err := p.validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			// Retry reports it as a subscribe option error.
			var c subscribeConfig
			optErr := Retry(p)(&c)
			require.Error(t, optErr)
			assert.Contains(t, optErr.Error(), "Retry: ")
			assert.Contains(t, optErr.Error(), tt.want)
		})
	}
}

func TestRetryPolicyValidateAcceptsEdges(t *testing.T) {
	tests := []struct {
		name string
		p    RetryPolicy
	}{
		{"one attempt, zero durations", RetryPolicy{MaxAttempts: 1}},
		{"Multiplier 0 means default", RetryPolicy{MaxAttempts: 2, Multiplier: 0}},
		{"Multiplier exactly 1", RetryPolicy{MaxAttempts: 2, Multiplier: 1}},
		{"Jitter 0 and 1", RetryPolicy{MaxAttempts: 2, Jitter: 1}},
		{"MaxBackoff equals InitialBackoff", RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Second, MaxBackoff: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.NoError(t, tt.p.validate())
		})
	}
}

func TestBackoffMultiplierZeroMeansTwo(t *testing.T) {
	zero := RetryPolicy{MaxAttempts: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: time.Hour}
	two := zero
	two.Multiplier = 2
	for retry := 1; retry <= 8; retry++ {
		assert.Equal(t, two.backoff(retry), zero.backoff(retry), "retry %d", retry)
	}
	assert.Equal(t, 80*time.Millisecond, zero.backoff(4))
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 20, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 3}
	want := []time.Duration{
		100 * time.Millisecond,
		300 * time.Millisecond,
		900 * time.Millisecond,
		time.Second, // 2.7s capped
		time.Second,
	}
	for i, w := range want {
		assert.Equal(t, w, p.backoff(i+1), "retry %d", i+1)
	}
	// Far beyond the cap it neither overflows nor exceeds it.
	assert.Equal(t, time.Second, p.backoff(10_000))

	one := RetryPolicy{MaxAttempts: 5, InitialBackoff: 7 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 1}
	assert.Equal(t, 7*time.Millisecond, one.backoff(1))
	assert.Equal(t, 7*time.Millisecond, one.backoff(50))

	none := RetryPolicy{MaxAttempts: 5}
	assert.Zero(t, none.backoff(3))
}

func TestBackoffJitterStaysWithinBounds(t *testing.T) {
	for _, jitter := range []float64{0.1, 0.5, 1} {
		t.Run(fmt.Sprint(jitter), func(t *testing.T) {
			p := RetryPolicy{MaxAttempts: 10, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 800 * time.Millisecond, Jitter: jitter}
			for retry := 1; retry <= 6; retry++ {
				base := float64(min(100*time.Millisecond<<(retry-1), 800*time.Millisecond))
				lo, hi := time.Duration(base*(1-jitter)), time.Duration(base*(1+jitter))
				var below, above int
				for range 2000 {
					d := p.backoff(retry)
					require.GreaterOrEqual(t, d, lo, "retry %d", retry)
					require.LessOrEqual(t, d, hi, "retry %d", retry)
					if float64(d) < base {
						below++
					} else if float64(d) > base {
						above++
					}
				}
				// Jitter spreads both ways; 2000 samples all on one side
				// would mean it does not.
				assert.Positive(t, below, "retry %d: no sample below the base", retry)
				assert.Positive(t, above, "retry %d: no sample above the base", retry)
			}
		})
	}
}

func TestShouldRetry(t *testing.T) {
	failure := errors.New("transient")
	tests := []struct {
		name     string
		p        RetryPolicy
		err      error
		attempts int
		elapsed  time.Duration
		want     bool
	}{
		{"transient, attempts left", RetryPolicy{MaxAttempts: 3}, failure, 1, 0, true},
		{"last attempt left", RetryPolicy{MaxAttempts: 3}, failure, 2, 0, true},
		{"attempts used up", RetryPolicy{MaxAttempts: 3}, failure, 3, 0, false},
		{"beyond attempts", RetryPolicy{MaxAttempts: 3}, failure, 4, 0, false},
		{"one attempt means no retry", RetryPolicy{MaxAttempts: 1}, failure, 1, 0, false},
		{"permanent", RetryPolicy{MaxAttempts: 3}, Permanent(failure), 1, 0, false},
		{"wrapped permanent", RetryPolicy{MaxAttempts: 3}, fmt.Errorf("x: %w", Permanent(failure)), 1, 0, false},
		{"decode error from a topic", RetryPolicy{MaxAttempts: 3}, Permanent(fmt.Errorf("%w: bad", ErrDecode)), 1, 0, false},
		{"panic is retried", RetryPolicy{MaxAttempts: 3}, newPanicError("boom"), 1, 0, true},
		{"within MaxElapsed", RetryPolicy{MaxAttempts: 3, MaxElapsed: time.Hour}, failure, 1, 0, true},
		{"past MaxElapsed", RetryPolicy{MaxAttempts: 3, MaxElapsed: time.Second}, failure, 1, 2 * time.Second, false},
		{"no MaxElapsed means no limit", RetryPolicy{MaxAttempts: 3}, failure, 1, 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.p.shouldRetry(tt.err, tt.attempts, tt.elapsed))
		})
	}
}

func TestRetryPolicyValidateRejectsNonFiniteNumbers(t *testing.T) {
	for name, p := range map[string]RetryPolicy{
		"NaN multiplier":      {MaxAttempts: 2, Multiplier: math.NaN()},
		"infinite multiplier": {MaxAttempts: 2, Multiplier: math.Inf(1)},
		"NaN jitter":          {MaxAttempts: 2, Jitter: math.NaN()},
	} {
		assert.Error(t, p.validate(), name)
	}
}
