package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DeadLetterMessage is a message read from a dead-letter topic, with its
// failure headers decoded. The Message keeps every header as it travelled.
type DeadLetterMessage struct {
	*Message
	Error         string    // the last failure's text
	Permanent     bool      // the failure was Permanent
	Attempts      int       // handler runs
	OriginalTopic string    // where the message failed
	Group         string    // the group it failed in; empty for ephemeral subscriptions
	FirstFailure  time.Time // zero when the header is missing
	LastFailure   time.Time
}

// ParseDeadLetter decodes the failure headers of m, a message of a dead-
// letter topic. It reports false when m carries none.
func ParseDeadLetter(m *Message) (DeadLetterMessage, bool) {
	h := m.Header
	if _, ok := h[HeaderDeadLetterOriginalTopic]; !ok {
		return DeadLetterMessage{Message: m}, false
	}
	d := DeadLetterMessage{
		Message:       m,
		Error:         h[HeaderDeadLetterError],
		OriginalTopic: h[HeaderDeadLetterOriginalTopic],
		Group:         h[HeaderDeadLetterGroup],
	}
	d.Permanent, _ = strconv.ParseBool(h[HeaderDeadLetterPermanent])
	d.Attempts, _ = strconv.Atoi(h[HeaderDeadLetterAttempts])
	d.FirstFailure, _ = time.Parse(time.RFC3339Nano, h[HeaderDeadLetterFirstFailure])
	d.LastFailure, _ = time.Parse(time.RFC3339Nano, h[HeaderDeadLetterLastFailure])
	return d, true
}

// DeadLetterFilter selects dead letters; its zero value selects all.
type DeadLetterFilter struct {
	// ErrorContains selects letters whose error text contains it.
	ErrorContains string
	// Key selects letters with this key.
	Key string
	// IDs selects letters with one of these IDs.
	IDs []string
	// Since and Until bound the time of the last failure: Since included,
	// Until excluded; zero means unbounded.
	Since, Until time.Time
}

// Match reports whether d is selected.
func (f DeadLetterFilter) Match(d DeadLetterMessage) bool {
	switch {
	case f.ErrorContains != "" && !strings.Contains(d.Error, f.ErrorContains):
		return false
	case f.Key != "" && d.Key != f.Key:
		return false
	case len(f.IDs) > 0 && !slices.Contains(f.IDs, d.ID):
		return false
	case !f.Since.IsZero() && d.LastFailure.Before(f.Since):
		return false
	case !f.Until.IsZero() && !d.LastFailure.Before(f.Until):
		return false
	}
	return true
}

// DeadLetters reads the dead-letter topic as it is now and returns the
// letters f selects, oldest first per partition, at most limit of them
// (0: no limit). It consumes nothing: the letters stay.
func (b *Bus) DeadLetters(ctx context.Context, deadLetterTopic string, f DeadLetterFilter, limit int) ([]DeadLetterMessage, error) {
	var out []DeadLetterMessage
	errEnough := errors.New("enough")
	err := b.ReadTopic(ctx, deadLetterTopic, false, func(m *Message) error {
		if d, ok := ParseDeadLetter(m); ok && f.Match(d) {
			out = append(out, d)
			if limit > 0 && len(out) >= limit {
				return errEnough
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("eventbus: dead letters of %q: %w", deadLetterTopic, err)
	}
	return out, nil
}

// ReplayOptions says which dead letters a replay sends where, and how
// fast.
type ReplayOptions struct {
	// Filter selects the letters to replay; its zero value selects all.
	Filter DeadLetterFilter
	// To is the topic to replay to; empty means each letter's original
	// topic.
	To string
	// Rate caps the replay at this many messages per second; 0 means no
	// cap.
	Rate float64
	// Progress, when set, is called after each letter with how many of the
	// selected letters are done.
	Progress func(done, selected int)
}

// ReplayReport counts what a replay did.
type ReplayReport struct {
	Selected        int // letters the filter selected
	Replayed        int // published by this replay
	AlreadyReplayed int // skipped: an earlier replay to the same topic published them
}

// ReplayJournalTopic is the topic where replays of deadLetterTopic note
// each letter they published: "<dead-letter topic>.replayed".
func ReplayJournalTopic(deadLetterTopic string) string { return deadLetterTopic + ".replayed" }

// Header names of the replay journal's entries.
const (
	HeaderReplayedID = "eventbus-replayed-id" // the ID of the replayed letter
	HeaderReplayedTo = "eventbus-replayed-to" // the topic it went to
)

// ReplayDeadLetters publishes the dead letters opts selects back to their
// original topic (or opts.To), without the eventbus-dlq-* headers but with
// their ID, key, time, payload and other headers, so a Dedup store
// recognises a message it handled before.
//
// A replay is idempotent when interrupted and run again: after each letter
// is published, it notes the letter's ID and target in the journal topic
// (ReplayJournalTopic), and a replay skips the letters the journal names
// for the same target. Only a letter whose publish succeeded just before an
// interruption can go out twice. The journal topic is created when the
// backend can and it is missing.
func (b *Bus) ReplayDeadLetters(ctx context.Context, deadLetterTopic string, opts ReplayOptions) (ReplayReport, error) {
	var report ReplayReport
	if opts.Rate < 0 {
		return report, fmt.Errorf("eventbus: replay %q: negative rate %v", deadLetterTopic, opts.Rate)
	}
	journal := ReplayJournalTopic(deadLetterTopic)
	if err := b.ensureJournal(ctx, journal); err != nil {
		return report, fmt.Errorf("eventbus: replay %q: journal %q: %w", deadLetterTopic, journal, err)
	}
	done := map[string]bool{} // "<id> <target>"
	err := b.ReadTopic(ctx, journal, false, func(m *Message) error {
		done[m.Header[HeaderReplayedID]+" "+m.Header[HeaderReplayedTo]] = true
		return nil
	})
	if err != nil {
		return report, fmt.Errorf("eventbus: replay %q: read journal %q: %w", deadLetterTopic, journal, err)
	}
	letters, err := b.DeadLetters(ctx, deadLetterTopic, opts.Filter, 0)
	if err != nil {
		return report, err
	}
	report.Selected = len(letters)
	var pace *time.Ticker
	if opts.Rate > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) / opts.Rate))
		defer pace.Stop()
	}
	for i, d := range letters {
		if err := ctx.Err(); err != nil {
			return report, err
		}
		target := opts.To
		if target == "" {
			target = d.OriginalTopic
		}
		switch {
		case target == "":
			return report, fmt.Errorf("eventbus: replay %q: letter %s names no original topic; give a target", deadLetterTopic, d.ID)
		case done[d.ID+" "+target]:
			report.AlreadyReplayed++
		default:
			if pace != nil && report.Replayed > 0 {
				select {
				case <-pace.C:
				case <-ctx.Done():
					return report, ctx.Err()
				}
			}
			if err := b.replayOne(ctx, journal, target, d); err != nil {
				return report, fmt.Errorf("eventbus: replay %q: letter %s to %q: %w", deadLetterTopic, d.ID, target, err)
			}
			done[d.ID+" "+target] = true
			report.Replayed++
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(letters))
		}
	}
	return report, nil
}

// replayOne publishes d to target, then notes it in the journal.
func (b *Bus) replayOne(ctx context.Context, journal, target string, d DeadLetterMessage) error {
	header := maps.Clone(d.Header)
	maps.DeleteFunc(header, func(k, _ string) bool { return strings.HasPrefix(k, deadLetterHeaderPrefix) })
	m := &Message{ID: d.ID, Key: d.Key, Payload: d.Payload, Header: header, Time: d.Time}
	if err := b.Publish(ctx, target, m); err != nil {
		return err
	}
	note := &Message{Key: d.ID, Header: map[string]string{HeaderReplayedID: d.ID, HeaderReplayedTo: target}}
	if err := b.Publish(ctx, journal, note); err != nil {
		return fmt.Errorf("published, but not noted in the journal (a rerun would publish it again): %w", err)
	}
	return nil
}

// ensureJournal creates the journal topic when it is missing and the
// backend can.
func (b *Bus) ensureJournal(ctx context.Context, journal string) error {
	a, err := b.admin("replay")
	if err != nil {
		return nil // a backend without admin creates topics on use
	}
	if _, err := a.DescribeTopic(ctx, journal); !errors.Is(err, ErrTopicNotFound) {
		return err
	}
	if err := a.CreateTopic(ctx, journal, 1); err != nil && !errors.Is(err, ErrTopicExists) {
		return err
	}
	return nil
}
