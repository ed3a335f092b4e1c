package driver

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by bus and drivers; package bus re-exports them.
var (
	// ErrClosed reports use of a closed bus, subscription or connection.
	ErrClosed = errors.New("eventbus: closed")
	// ErrInvalidURL reports a connection URL that cannot be used.
	ErrInvalidURL = errors.New("eventbus: invalid URL")
	// ErrInvalidTopic reports an empty or malformed topic name.
	ErrInvalidTopic = errors.New("eventbus: invalid topic")
	// ErrMessageTooLarge reports a message beyond the backend's limit.
	ErrMessageTooLarge = errors.New("eventbus: message too large")
	// ErrTopicNotFound reports a topic that does not exist and is not
	// created on first use.
	ErrTopicNotFound = errors.New("eventbus: topic not found")
	// ErrLagUnknown reports a backend that cannot count the messages a
	// group has not acknowledged (see LagReporter).
	ErrLagUnknown = errors.New("eventbus: the backend does not report lag in messages")
	// ErrTopicExists reports a topic that cannot be created because it
	// exists.
	ErrTopicExists = errors.New("eventbus: topic exists")
	// ErrUnsupported reports a capability the backend does not have, such
	// as transactional subscriptions. errors.Is(err, errors.ErrUnsupported)
	// holds too.
	ErrUnsupported = fmt.Errorf("eventbus: %w on this backend", errors.ErrUnsupported)
)
