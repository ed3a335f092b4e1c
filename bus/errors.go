package bus

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Sentinel errors, testable with errors.Is.
var (
	// ErrClosed reports use of a closed Bus or Subscription.
	ErrClosed = driver.ErrClosed
	// ErrInvalidURL reports a URL Open cannot use: unknown scheme, unknown
	// or bad parameter.
	ErrInvalidURL = driver.ErrInvalidURL
	// ErrInvalidTopic reports an empty or malformed topic name.
	ErrInvalidTopic = driver.ErrInvalidTopic
	// ErrMessageTooLarge reports a message beyond the backend's limit.
	ErrMessageTooLarge = driver.ErrMessageTooLarge
	// ErrTopicNotFound reports a missing topic the backend will not create.
	ErrTopicNotFound = driver.ErrTopicNotFound
	// ErrInvalidMessage reports a message Publish refuses to send, such as
	// one with a header that is not valid UTF-8.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrTopicExists reports a topic that cannot be created because it
	// exists.
	ErrTopicExists = driver.ErrTopicExists
	// ErrUnsupported reports a capability the backend does not have, such
	// as Transactional on a backend without transactions.
	ErrUnsupported = driver.ErrUnsupported
	// ErrPermanent marks failures that retries cannot fix; see Permanent.
	ErrPermanent = errors.New("permanent failure")
	// ErrDecode reports a payload its codec cannot decode. It is permanent.
	ErrDecode = errors.New("cannot decode payload")
	// ErrPanic reports a handler panic; see PanicError.
	ErrPanic = errors.New("handler panicked")
)

// Permanent marks err as not worth retrying: the error policy sends the
// message straight to the dead-letter topic (without one, it runs again
// every HoldInterval of the retry policy).
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// IsPermanent reports whether err is marked Permanent anywhere in its chain.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// PanicError is a recovered handler panic with the stack where it happened.
type PanicError struct {
	Value any
	Stack []byte
}

func newPanicError(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }

// Error gives the panic value and the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("handler panicked: %v\n%s", e.Value, e.Stack)
}

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// PublishError reports which messages of a Publish call failed and why.
// The other messages of the call were published.
type PublishError struct {
	Topic  string
	Failed []FailedMessage
	Total  int
}

// FailedMessage is one message that failed to publish.
type FailedMessage struct {
	// Index is the message's position in the Publish call.
	Index int
	ID    string
	Key   string
	Err   error
}

// Error names the topic, counts the failures and details the first three.
func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eventbus: publish to %q: %d of %d messages failed", e.Topic, len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, "; message %d (id %s): %v", f.Index, f.ID, f.Err)
	}
	return b.String()
}

// Unwrap returns the individual errors, so errors.Is sees each of them.
func (e *PublishError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}
