package bus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Handler handles one message. Returning nil acknowledges it; an error goes
// to the subscription's error policy. The context is cancelled only when
// the subscription's shutdown deadline passes.
type Handler func(ctx context.Context, m *Message) error

// Middleware wraps a Handler, like net/http middleware. The first
// middleware given to Use is the outermost.
type Middleware func(Handler) Handler

// SubscribeOption configures Subscribe.
type SubscribeOption func(*subscribeConfig) error

type subscribeConfig struct {
	group           string
	concurrency     int
	maxInFlight     int
	middleware      []Middleware
	retry           RetryPolicy
	deadLetter      bool
	deadLetterTopic string
	drainTimeout    time.Duration
	driverOptions   []any
	transactional   bool
	retryDelays     []time.Duration // see RetryStages
	companion       companion
}

func defaultSubscribeConfig() subscribeConfig {
	return subscribeConfig{
		concurrency:  1,
		retry:        DefaultRetryPolicy(),
		drainTimeout: 30 * time.Second,
	}
}

// Group names a durable consumer group. Members of one group share the
// work; every group gets every message. A new group starts at the earliest
// message the backend retains. Without Group a subscription is ephemeral:
// it starts at the latest message and remembers nothing.
func Group(name string) SubscribeOption {
	return func(c *subscribeConfig) error {
		if name == "" {
			return fmt.Errorf("Group: name is empty")
		}
		c.group = name
		return nil
	}
}

// Concurrency runs up to n handlers at once (default 1). Messages with the
// same Key still run one at a time, in order; different keys run in
// parallel.
func Concurrency(n int) SubscribeOption {
	return func(c *subscribeConfig) error {
		if n < 1 {
			return fmt.Errorf("Concurrency: %d is less than 1", n)
		}
		c.concurrency = n
		return nil
	}
}

// MaxInFlight bounds how many received messages may wait or run in this
// subscription at once (default 256 or 16 per handler, whichever is more).
// Fetching pauses at the bound.
func MaxInFlight(n int) SubscribeOption {
	return func(c *subscribeConfig) error {
		if n < 1 {
			return fmt.Errorf("MaxInFlight: %d is less than 1", n)
		}
		c.maxInFlight = n
		return nil
	}
}

// Use adds middleware around the handler, the first one outermost. The
// error policy sits outside all of them: a retry runs the whole chain again.
func Use(mw ...Middleware) SubscribeOption {
	return func(c *subscribeConfig) error {
		for i, m := range mw {
			if m == nil {
				return fmt.Errorf("Use: middleware %d is nil", i)
			}
		}
		c.middleware = append(c.middleware, mw...)
		return nil
	}
}

// Retry sets how a failed handler is retried before the message is dead-
// lettered; see RetryPolicy. The default is DefaultRetryPolicy.
func Retry(p RetryPolicy) SubscribeOption {
	return func(c *subscribeConfig) error {
		if err := p.validate(); err != nil {
			return fmt.Errorf("Retry: %w", err)
		}
		c.retry = p
		return nil
	}
}

// DeadLetter sends a message whose retries are exhausted, or whose failure
// is permanent, to a dead-letter topic with failure headers, and acks the
// original only once the dead letter is durable. The topic is
// "<topic>.<group>.dlq" ("<topic>.dlq" without a group) unless
// DeadLetterTopic names another.
//
// Without DeadLetter such a message stays and runs again every HoldInterval of
// the retry policy until it succeeds: never skipped. Only its key waits.
func DeadLetter() SubscribeOption {
	return func(c *subscribeConfig) error {
		c.deadLetter = true
		return nil
	}
}

// DeadLetterTopic is DeadLetter with a topic of your choice.
func DeadLetterTopic(topic string) SubscribeOption {
	return func(c *subscribeConfig) error {
		if err := ValidateTopic(topic); err != nil {
			return fmt.Errorf("DeadLetterTopic: %w", err)
		}
		c.deadLetter = true
		c.deadLetterTopic = topic
		return nil
	}
}

// DrainTimeout bounds how long a subscription whose Subscribe context was
// cancelled waits for in-flight handlers before cancelling their context
// (default 30s). Close uses its own context's deadline instead.
func DrainTimeout(d time.Duration) SubscribeOption {
	return func(c *subscribeConfig) error {
		if d <= 0 {
			return fmt.Errorf("DrainTimeout: %v is not positive", d)
		}
		c.drainTimeout = d
		return nil
	}
}

// DriverOption passes a backend-specific option through to the driver,
// such as a Pulsar subscription type. Drivers export constructors that
// return it; a driver rejects options it does not know.
func DriverOption(opt any) SubscribeOption {
	return func(c *subscribeConfig) error {
		if opt == nil {
			return errors.New("DriverOption: the option is nil")
		}
		c.driverOptions = append(c.driverOptions, opt)
		return nil
	}
}
