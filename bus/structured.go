package bus

import (
	"context"
	"fmt"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// readStructured wraps a subscription's handler chain so that a message in
// CloudEvents structured mode (content-type application/cloudevents+json)
// reaches it, and its middleware, as the binary-mode message it stands for:
// ID, Time, ce_* headers, content-type and Payload from the event (see
// driver.ReadStructured). A message eventbus cannot read that way (batch
// mode, another event format, an invalid event) fails permanently with an
// error wrapping ErrDecode, so it is dead-lettered with its original bytes
// rather than handed over as something it is not. Such a dead letter
// reaches the dead-letter topic's handlers as it is: a dead letter is only
// ever in structured mode when it could not be read.
func readStructured(next Handler) Handler {
	return func(ctx context.Context, m *Message) error {
		// Once read, a message is no longer structured (ReadStructured
		// refuses a CloudEvents format as datacontenttype), so a retry
		// does not read it again.
		if !driver.IsStructured(m.Header) || isDeadLetter(m) {
			return next(ctx, m)
		}
		dm := driver.Message{ID: m.ID, Key: m.Key, Payload: m.Payload, Header: m.Header, Time: m.Time}
		if err := driver.ReadStructured(&dm); err != nil {
			return Permanent(fmt.Errorf("%w: message %s on %q: %w", ErrDecode, m.ID, m.Topic, err))
		}
		m.ID, m.Payload, m.Header, m.Time = dm.ID, dm.Payload, dm.Header, dm.Time
		return next(ctx, m)
	}
}

// isDeadLetter reports whether m is a dead letter eventbus wrote.
func isDeadLetter(m *Message) bool {
	_, ok := m.Header[HeaderDeadLetterError]
	return ok
}
