package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/google/uuid"
)

// Execer is what Publish writes with: a *sql.Tx in practice, so that the
// messages commit or roll back with the caller's own writes. A *sql.Conn or
// *sql.DB also works, without that guarantee.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// columnsPerRow is how many values Publish binds per message; maxRowsPerInsert
// keeps one INSERT under SQLite's 32766 bound parameters.
const (
	columnsPerRow    = 7
	maxRowsPerInsert = 1000
)

// Publish writes msgs for topic into the outbox table within tx; the relay
// publishes them once tx has committed, and never if it rolls back. Like
// bus.Publish it fills an empty ID with a UUIDv7 and a zero Time with the
// current time, in place, so the caller knows the IDs before commit. Key,
// Header, Payload, ID and Time are stored as they are and published
// unchanged.
//
// On PostgreSQL, writing a message with a key locks that key (within its
// topic) until tx ends, so that transactions writing the same key commit,
// and are published, one after the other. A transaction that writes several
// keys in opposite orders to another may deadlock with it; PostgreSQL then
// fails one of them.
func Publish(ctx context.Context, tx Execer, topic string, msgs ...*bus.Message) error {
	if tx == nil {
		return fmt.Errorf("outbox: publish to %q: tx is nil", topic)
	}
	if topic == "" {
		return fmt.Errorf("%w: outbox: publish: topic is empty", bus.ErrInvalidTopic)
	}
	now := time.Now()
	args := make([]any, 0, min(len(msgs), maxRowsPerInsert)*columnsPerRow)
	for i, m := range msgs {
		if m == nil {
			return fmt.Errorf("outbox: publish to %q: message %d is nil", topic, i)
		}
		if m.ID == "" {
			id, err := uuid.NewV7()
			if err != nil {
				return fmt.Errorf("outbox: publish to %q: message %d: new ID: %w", topic, i, err)
			}
			m.ID = id.String()
		}
		if m.Time.IsZero() {
			m.Time = now.Round(0)
		}
		if !time.Unix(0, m.Time.UnixNano()).Equal(m.Time) {
			return fmt.Errorf("outbox: publish to %q: message %d (id %s): time %s is outside the years 1678 to 2262 the outbox stores", topic, i, m.ID, m.Time)
		}
		for k, v := range m.Header {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return fmt.Errorf("outbox: publish to %q: message %d (id %s): header %q is not valid UTF-8, which the outbox cannot store", topic, i, m.ID, k)
			}
		}
		header, err := json.Marshal(m.Header)
		if err != nil {
			return fmt.Errorf("outbox: publish to %q: message %d (id %s): header: %w", topic, i, m.ID, err)
		}
		payload := m.Payload
		if payload == nil {
			payload = []byte{} // the column is NOT NULL
		}
		args = append(args, topic, m.Key, m.ID, string(header), payload, m.Time.UnixNano(), now.UnixMicro())
		if len(args) == maxRowsPerInsert*columnsPerRow {
			if err := insert(ctx, tx, topic, args); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	if len(args) == 0 {
		return nil
	}
	return insert(ctx, tx, topic, args)
}

// insert writes the rows whose values are args, columnsPerRow each.
func insert(ctx context.Context, tx Execer, topic string, args []any) error {
	var q strings.Builder
	q.WriteString("INSERT INTO eventbus_outbox (topic, msg_key, id, header, payload, event_time, created_at) VALUES ")
	for row := range len(args) / columnsPerRow {
		if row > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for col := range columnsPerRow {
			if col > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('$')
			q.WriteString(strconv.Itoa(row*columnsPerRow + col + 1))
		}
		q.WriteByte(')')
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		if errors.Is(err, sql.ErrTxDone) {
			return fmt.Errorf("outbox: publish %d messages to %q: %w", len(args)/columnsPerRow, topic, err)
		}
		return fmt.Errorf("outbox: publish %d messages to %q (did outbox.Migrate run?): %w", len(args)/columnsPerRow, topic, err)
	}
	return nil
}

// PublishTopic encodes v with topic's codec, exactly as topic.Publish
// would (content-type and CloudEvents type headers included), and writes it
// with key into the outbox within tx. It returns the message written, whose
// ID is set.
func PublishTopic[T any](ctx context.Context, tx Execer, topic bus.Topic[T], key string, v T) (*bus.Message, error) {
	m, err := topic.Message(key, v)
	if err != nil {
		return nil, err
	}
	if err := Publish(ctx, tx, topic.Name(), m); err != nil {
		return nil, err
	}
	return m, nil
}
