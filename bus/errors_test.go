package bus

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPermanentNilIsNil(t *testing.T) {
	assert.NoError(t, Permanent(nil))
	assert.False(t, IsPermanent(nil))
}

func TestPermanentKeepsCauseAndMessage(t *testing.T) {
	cause := errors.New("bad order")
	err := Permanent(cause)

	assert.Equal(t, "bad order", err.Error())
	assert.ErrorIs(t, err, cause)
	assert.ErrorIs(t, err, ErrPermanent)
	assert.True(t, IsPermanent(err))
}

func TestIsPermanentThroughWrapping(t *testing.T) {
	cause := errors.New("bad order")
	wrapped := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", Permanent(cause)))

	assert.True(t, IsPermanent(wrapped))
	assert.ErrorIs(t, wrapped, cause)
	assert.False(t, IsPermanent(fmt.Errorf("outer: %w", cause)), "an unmarked error is not permanent")
	assert.False(t, IsPermanent(fmt.Errorf("outer: %v", Permanent(cause))), "%%v drops the mark")
}

func TestPanicErrorOfErrorValue(t *testing.T) {
	err := newPanicError(io.ErrUnexpectedEOF)

	assert.ErrorIs(t, err, ErrPanic)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "Unwrap reaches an error panic value")
	assert.Same(t, io.ErrUnexpectedEOF, errors.Unwrap(err))
	assert.False(t, IsPermanent(err))
}

func TestPanicErrorOfOtherValue(t *testing.T) {
	err := newPanicError(42)

	assert.ErrorIs(t, err, ErrPanic)
	assert.NoError(t, err.Unwrap())
	assert.NotErrorIs(t, err, io.ErrUnexpectedEOF)

	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "handler panicked: 42\n"), msg)
	// The stack is where newPanicError was called: this test.
	assert.Contains(t, msg, "TestPanicErrorOfOtherValue")
	assert.Contains(t, msg, string(err.Stack))
	assert.NotEmpty(t, err.Stack)
}

func TestPanicErrorIsNotOtherSentinels(t *testing.T) {
	err := newPanicError("boom")
	assert.NotErrorIs(t, err, ErrClosed)
	assert.NotErrorIs(t, err, ErrDecode)
	// errors.As finds it through wrapping.
	var pe *PanicError
	require.ErrorAs(t, fmt.Errorf("run: %w", err), &pe)
	assert.Equal(t, "boom", pe.Value)
}

func TestPublishErrorMessage(t *testing.T) {
	errA := errors.New("broker down")
	errB := errors.New("too large")
	err := &PublishError{
		Topic: "orders",
		Total: 5,
		Failed: []FailedMessage{
			{Index: 1, ID: "id-1", Key: "k1", Err: errA},
			{Index: 3, ID: "id-3", Key: "k3", Err: errB},
		},
	}

	assert.Equal(t, `eventbus: publish to "orders": 2 of 5 messages failed; `+
		`message 1 (id id-1): broker down; message 3 (id id-3): too large`, err.Error())
	assert.ErrorIs(t, err, errA)
	assert.ErrorIs(t, err, errB)
	assert.NotErrorIs(t, err, ErrClosed)
}

func TestPublishErrorTruncatesAfterThree(t *testing.T) {
	causes := make([]error, 5)
	err := &PublishError{Topic: "orders", Total: 10}
	for i := range causes {
		causes[i] = fmt.Errorf("cause %d", i)
		err.Failed = append(err.Failed, FailedMessage{Index: 2 * i, ID: fmt.Sprintf("id-%d", 2*i), Err: causes[i]})
	}

	msg := err.Error()
	assert.Contains(t, msg, `publish to "orders": 5 of 10 messages failed`)
	for i := range 3 {
		assert.Contains(t, msg, fmt.Sprintf("message %d (id id-%d): cause %d", 2*i, 2*i, i))
	}
	assert.True(t, strings.HasSuffix(msg, "; and 2 more"), msg)
	assert.NotContains(t, msg, "cause 3")
	assert.NotContains(t, msg, "id-6")
	for _, cause := range causes {
		assert.ErrorIs(t, err, cause, "errors.Is reaches every failure, also those the message leaves out")
	}
}

func TestPublishErrorExactlyThreeIsNotTruncated(t *testing.T) {
	err := &PublishError{Topic: "t", Total: 3}
	for i := range 3 {
		err.Failed = append(err.Failed, FailedMessage{Index: i, ID: fmt.Sprint(i), Err: errors.New("x")})
	}
	assert.NotContains(t, err.Error(), "more")
	assert.Equal(t, 3, strings.Count(err.Error(), "; message "))
}
