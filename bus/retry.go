package bus

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy is how a subscription retries a failed handler in process,
// before the message is dead-lettered. Retries of one message hold back
// only messages with the same Key.
type RetryPolicy struct {
	// MaxAttempts counts handler runs per delivery, the first included;
	// 1 means no retry.
	MaxAttempts int
	// InitialBackoff is the wait before the first retry.
	InitialBackoff time.Duration
	// MaxBackoff caps each wait between retries.
	MaxBackoff time.Duration
	// HoldInterval is how long a message waits before each further run
	// once its MaxAttempts are used up and it can go nowhere else: the
	// subscription has no dead-letter topic, or publishing its dead letter
	// (or to its retry stage) failed. It runs again until it succeeds:
	// never skipped, and only its key waits. 0 means DefaultHoldInterval.
	HoldInterval time.Duration
	// Multiplier grows the wait after each retry: at least 1, or 0 for
	// the default of 2.
	Multiplier float64
	// Jitter spreads each wait by up to ±Jitter of itself (0 to 1).
	Jitter float64
	// MaxElapsed stops retrying once this long has passed since the first
	// failure; 0 means no limit.
	MaxElapsed time.Duration
}

// DefaultHoldInterval is the HoldInterval of a RetryPolicy that sets none.
const DefaultHoldInterval = 10 * time.Second

// DefaultRetryPolicy is 5 attempts, waiting 100ms, 200ms, 400ms and 800ms
// with 20% jitter; without a dead-letter topic, a message that still
// fails runs again every 10s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:    5,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     10 * time.Second,
		Multiplier:     2,
		Jitter:         0.2,
		HoldInterval:   DefaultHoldInterval,
	}
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 1:
		return errors.New("MaxAttempts must be at least 1")
	case p.InitialBackoff < 0 || p.MaxBackoff < 0 || p.MaxElapsed < 0 || p.HoldInterval < 0:
		return errors.New("durations must not be negative")
	case p.MaxBackoff < p.InitialBackoff:
		return errors.New("MaxBackoff is less than InitialBackoff")
	case p.Multiplier != 0 && !(p.Multiplier >= 1 && !math.IsInf(p.Multiplier, 1)):
		return errors.New("the Multiplier must be a finite number of at least 1, or 0 for the default")
	case !(p.Jitter >= 0 && p.Jitter <= 1): // also NaN
		return errors.New("the Jitter must be between 0 and 1")
	}
	return nil
}

// holdInterval is the wait before each run of a held message.
func (p RetryPolicy) holdInterval() time.Duration {
	if p.HoldInterval == 0 {
		return DefaultHoldInterval
	}
	return p.HoldInterval
}

// backoff is the wait before retry number retry (1 for the first).
func (p RetryPolicy) backoff(retry int) time.Duration {
	multiplier := p.Multiplier
	if multiplier == 0 {
		multiplier = 2
	}
	d := float64(p.InitialBackoff)
	for i := 1; i < retry && d < float64(p.MaxBackoff); i++ {
		d *= multiplier
	}
	d = min(d, float64(p.MaxBackoff))
	if p.Jitter > 0 {
		d += d * p.Jitter * (2*rand.Float64() - 1)
	}
	return time.Duration(d)
}

// shouldRetry reports whether a delivery that has run attempts times, the
// first failure elapsed ago, gets another run.
func (p RetryPolicy) shouldRetry(err error, attempts int, elapsed time.Duration) bool {
	if IsPermanent(err) || attempts >= p.MaxAttempts {
		return false
	}
	return p.MaxElapsed == 0 || elapsed < p.MaxElapsed
}
