package bus

import "time"

// action is what happens to a message after one handler run.
type action int

const (
	// ack: the message is done; settle it as handled.
	ack action = iota
	// retry: run it again in place after the verdict's delay.
	retry
	// hold: retries are exhausted and there is no dead-letter topic, so
	// the message stays, running again every HoldInterval until it
	// succeeds. Only its key waits behind it.
	hold
	// deadLetter: publish it to the dead-letter topic, then ack it.
	deadLetter
	// park: publish it to the next retry stage, then ack it.
	park
	// giveBack: return it unsettled to the backend, which redelivers it
	// to the group; used at shutdown and when the backend withdrew it.
	giveBack
)

func (a action) String() string {
	switch a {
	case ack:
		return "ack"
	case retry:
		return "retry"
	case hold:
		return "hold"
	case deadLetter:
		return "dead-letter"
	case park:
		return "park"
	case giveBack:
		return "give back"
	}
	return "unknown"
}

// verdict is the decision about one handler run.
type verdict struct {
	action action
	delay  time.Duration // before the next run, for retry and hold
}

// runResult is what decide looks at after a handler run of one delivery.
type runResult struct {
	err          error     // the handler's result
	failures     int       // failed runs of this delivery, this one included
	firstFailure time.Time // of this delivery
	now          time.Time
	stopping     bool // the subscription is shutting down
	withdrawn    bool // the backend took the message back meanwhile
	stageLeft    bool // a retry stage follows (see RetryStages)
}

// decide is the error policy: what becomes of a message after a run. It
// is the one place that orders retry, dead letter and redelivery, so no
// option can mis-order them. Shutdown and withdrawal never dead-letter.
// Retry stages come after the in-process retries; a Permanent failure
// skips them.
func decide(r runResult, policy RetryPolicy, hasDeadLetterTopic bool) verdict {
	switch {
	case r.err == nil:
		return verdict{action: ack}
	case r.stopping || r.withdrawn:
		return verdict{action: giveBack}
	case policy.shouldRetry(r.err, r.failures, r.now.Sub(r.firstFailure)):
		return verdict{action: retry, delay: policy.backoff(r.failures)}
	case r.stageLeft && !IsPermanent(r.err):
		return verdict{action: park}
	case hasDeadLetterTopic:
		return verdict{action: deadLetter}
	default:
		return verdict{action: hold, delay: policy.holdInterval()}
	}
}
