package bus

import (
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Headers a dead letter carries besides the original message's own, which
// travel unchanged with its key and payload.
const (
	HeaderDeadLetterError         = "eventbus-dlq-error"          // the last failure's text
	HeaderDeadLetterPermanent     = "eventbus-dlq-permanent"      // "true" when the failure was Permanent
	HeaderDeadLetterAttempts      = "eventbus-dlq-attempts"       // handler runs, across redeliveries where known
	HeaderDeadLetterOriginalTopic = "eventbus-dlq-original-topic" // the topic the message failed on
	HeaderDeadLetterGroup         = "eventbus-dlq-group"          // the failing group; empty for ephemeral subscriptions
	HeaderDeadLetterPartition     = "eventbus-dlq-partition"      // where the backend has partitions
	HeaderDeadLetterOffset        = "eventbus-dlq-offset"         // where the backend has offsets
	HeaderDeadLetterFirstFailure  = "eventbus-dlq-first-failure"  // RFC 3339 with nanoseconds
	HeaderDeadLetterLastFailure   = "eventbus-dlq-last-failure"   // RFC 3339 with nanoseconds
)

// deadLetterHeaderPrefix begins every header a dead letter adds.
const deadLetterHeaderPrefix = "eventbus-dlq-"

// maxErrorHeaderBytes keeps a long error, such as a panic's stack, from
// pushing a dead letter past the backend's message size limit.
const maxErrorHeaderBytes = 8 << 10

// deadLetterMessage is the dead letter of m: its key, payload and headers
// unchanged, the failure in the eventbus-dlq-* headers. It is always a valid
// CloudEvent: a message that reached the handler without an ID or a time
// (from a driver that sets neither) gets a new ID and the last failure's
// time.
func deadLetterMessage(m *Message, group string, lastErr error, firstFailure, lastFailure time.Time) driver.Message {
	letter := driver.Message{ID: m.ID, Key: m.Key, Payload: m.Payload, Time: m.Time,
		Header: deadLetterHeader(m, group, lastErr, firstFailure, lastFailure)}
	if letter.ID == "" {
		letter.ID = newID(lastFailure)
	}
	if letter.Time.IsZero() {
		letter.Time = lastFailure
	}
	return letter
}

func deadLetterHeader(m *Message, group string, lastErr error, firstFailure, lastFailure time.Time) map[string]string {
	h := make(map[string]string, len(m.Header)+9)
	maps.Copy(h, m.Header)
	text := lastErr.Error()
	if len(text) > maxErrorHeaderBytes {
		text = strings.ToValidUTF8(text[:maxErrorHeaderBytes], "") + "…(truncated)"
	}
	h[HeaderDeadLetterError] = text
	h[HeaderDeadLetterPermanent] = strconv.FormatBool(IsPermanent(lastErr))
	h[HeaderDeadLetterAttempts] = strconv.Itoa(m.Attempt)
	h[HeaderDeadLetterOriginalTopic] = m.Topic
	h[HeaderDeadLetterGroup] = group
	if p := m.receipt.Partition; p >= 0 {
		h[HeaderDeadLetterPartition] = strconv.Itoa(int(p))
	}
	if o := m.receipt.Offset; o >= 0 {
		h[HeaderDeadLetterOffset] = strconv.FormatInt(o, 10)
	}
	h[HeaderDeadLetterFirstFailure] = firstFailure.UTC().Format(time.RFC3339Nano)
	h[HeaderDeadLetterLastFailure] = lastFailure.UTC().Format(time.RFC3339Nano)
	keepEarlierFailures(h, m.Header, m.Attempt)
	return h
}
