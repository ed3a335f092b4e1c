package middleware

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventbus-go/eventbus/bus"
)

// ErrInProgress reports a message whose duplicate is being handled right
// now. It is not permanent: the subscription's error policy retries it,
// and the retry finds the message done (and skips it) or released after a
// failure (and runs it).
var ErrInProgress = errors.New("duplicate message is being handled elsewhere")

// Defaults of the Dedup options.
const (
	DefaultDedupTTL   = 24 * time.Hour
	DefaultDedupLease = 5 * time.Minute
)

// storeTimeout bounds Commit and Release, which run even after the
// handler's context is done.
const storeTimeout = 10 * time.Second

// DedupOption configures Dedup. An option given a value it cannot use
// makes Dedup fail with an error that names the option.
type DedupOption func(*dedupConfig) error

type dedupConfig struct {
	ttl         time.Duration
	lease       time.Duration
	key         func(*bus.Message) string
	onDuplicate func(context.Context, *bus.Message)
	logger      *slog.Logger
}

// DedupTTL is how long a handled message is remembered (default
// DefaultDedupTTL). Make it longer than the longest time a duplicate can
// arrive after the original: the backend's redelivery delays and how long
// producers may retry a publish.
func DedupTTL(d time.Duration) DedupOption {
	return func(c *dedupConfig) error {
		if d <= 0 {
			return fmt.Errorf("DedupTTL: %v is not positive", d)
		}
		c.ttl = d
		return nil
	}
}

// DedupLease is how long a claim holds while the handler runs (default
// DefaultDedupLease). It must outlast the slowest handler run: once it
// ends, a duplicate may run alongside. It also bounds how long a process
// that died mid-handler blocks the message's redelivery.
func DedupLease(d time.Duration) DedupOption {
	return func(c *dedupConfig) error {
		if d <= 0 {
			return fmt.Errorf("DedupLease: %v is not positive", d)
		}
		c.lease = d
		return nil
	}
}

// DedupKey sets what identifies a message (default: its group, topic and
// ID, as "group/topic/id", so several groups can share one Store). A key
// function that returns "" for a message means it cannot tell that message
// apart: Dedup then runs the handler, never skipping it. The default does
// so for a message without an ID, which the drivers give only when a
// producer set none and the backend has no position to derive one from.
func DedupKey(key func(*bus.Message) string) DedupOption {
	return func(c *dedupConfig) error {
		if key == nil {
			return errors.New("DedupKey: the key function is nil")
		}
		c.key = key
		return nil
	}
}

// DedupOnDuplicate calls f for every message skipped because it was
// handled already, for metrics or logs.
func DedupOnDuplicate(f func(ctx context.Context, m *bus.Message)) DedupOption {
	return func(c *dedupConfig) error {
		if f == nil {
			return errors.New("DedupOnDuplicate: the function is nil")
		}
		c.onDuplicate = f
		return nil
	}
}

// DedupLogger sets where Dedup reports store failures (default
// slog.Default()).
func DedupLogger(l *slog.Logger) DedupOption {
	return func(c *dedupConfig) error {
		if l == nil {
			return errors.New("DedupLogger: the logger is nil (slog.New(slog.DiscardHandler) logs nothing)")
		}
		c.logger = l
		return nil
	}
}

// Dedup makes a handler idempotent: once the handler has succeeded for a
// message, later deliveries of the same message (the same key: by default
// its topic and ID) are acknowledged without running it. A nil store or
// an invalid option is an error here, before any message runs.
//
// Before the handler runs, Dedup claims the key in store. A key already
// done is a duplicate: it is acknowledged. A key claimed by a run in
// progress returns an error wrapping ErrInProgress, so the duplicate is
// retried rather than acknowledged before the original succeeded; give the
// subscription a Retry policy whose backoffs outlast the handler, or the
// duplicate is nacked (or dead-lettered) like any failure. Only
// when the handler returns nil is the key committed as done; when it fails
// or panics, the claim is released and the error goes to the error policy
// as usual, so at-least-once holds: a failure never marks a message done.
//
// If the store cannot commit after the handler succeeded, Dedup logs the
// failure and still acknowledges the message: its side effect happened,
// and running it again is what Dedup is there to avoid. A later duplicate
// may then run once more, after the lease ends. If the store cannot claim,
// the message fails and is retried.
func Dedup(store Store, opts ...DedupOption) (bus.Middleware, error) {
	if store == nil {
		return nil, errors.New("dedup: the store is nil")
	}
	d := &deduper{
		store: store,
		dedupConfig: dedupConfig{
			ttl:         DefaultDedupTTL,
			lease:       DefaultDedupLease,
			key:         defaultDedupKey,
			onDuplicate: func(context.Context, *bus.Message) {},
			logger:      slog.Default(),
		},
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("dedup: an option is nil")
		}
		if err := opt(&d.dedupConfig); err != nil {
			return nil, fmt.Errorf("dedup: %w", err)
		}
	}
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Message) error {
			return d.handle(ctx, m, next)
		}
	}, nil
}

// defaultDedupKey is "group/topic/id", or "" for a message without an ID:
// two such messages may well be different events, so neither is skipped.
func defaultDedupKey(m *bus.Message) string {
	if m.ID == "" {
		return ""
	}
	return m.Group + "/" + m.Topic + "/" + m.ID
}

type deduper struct {
	store Store
	dedupConfig
}

func (d *deduper) handle(ctx context.Context, m *bus.Message, next bus.Handler) error {
	key := d.key(m)
	if key == "" {
		d.logger.WarnContext(ctx, "dedup: message has no key, handling it without deduplication", "id", m.ID, "topic", m.Topic)
		return next(ctx, m)
	}
	owner := rand.Text()
	status, err := d.store.Claim(ctx, key, owner, d.lease)
	if err != nil {
		return fmt.Errorf("dedup: claim message %s (key %q): %w", m.ID, key, err)
	}
	switch status {
	case ClaimAcquired:
		return d.runClaimed(ctx, m, next, key, owner)
	case ClaimDone:
		d.onDuplicate(ctx, m)
		return nil
	case ClaimBusy:
		return fmt.Errorf("dedup: message %s (key %q): %w", m.ID, key, ErrInProgress)
	default:
		return fmt.Errorf("dedup: claim message %s (key %q): store answered %v", m.ID, key, status)
	}
}

// runClaimed runs next for a key owner holds, then commits the key on
// success and releases it on failure or panic.
func (d *deduper) runClaimed(ctx context.Context, m *bus.Message, next bus.Handler, key, owner string) error {
	succeeded := false
	defer func() {
		// The handler's context may be done by now; the store still
		// needs to hear how the run ended.
		storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if succeeded {
			if err := d.store.Commit(storeCtx, key, d.ttl); err != nil {
				d.logger.ErrorContext(ctx, "dedup: handled message not recorded; a duplicate may run again after the lease",
					"id", m.ID, "key", key, "lease", d.lease, "err", err)
			}
			return
		}
		if err := d.store.Release(storeCtx, key, owner); err != nil {
			d.logger.ErrorContext(ctx, "dedup: claim of failed message not released; its redelivery waits for the lease",
				"id", m.ID, "key", key, "lease", d.lease, "err", err)
		}
	}()
	err := next(withClaim(ctx, Claim{Key: key, Owner: owner, TTL: d.ttl}), m)
	succeeded = err == nil
	return err
}
