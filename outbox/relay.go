package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventbus-go/eventbus/bus"
)

// Defaults of the relay options.
const (
	DefaultBatchSize    = 256
	MaxBatchSize        = maxRowsPerInsert
	DefaultLease        = 10 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
	DefaultPollInterval = 25 * time.Millisecond
	// DefaultListenPollInterval is the poll interval on PostgreSQL while
	// the relay listens for the notification of each commit; the poll only
	// covers notifications lost while reconnecting.
	DefaultListenPollInterval = time.Second
)

// RelayOption configures a Relay.
type RelayOption func(*relayConfig) error

type relayConfig struct {
	batchSize    int
	lease        time.Duration
	minBackoff   time.Duration
	maxBackoff   time.Duration
	pollInterval time.Duration
	retain       time.Duration
	logger       *slog.Logger
	onPublished  func(ctx context.Context, topic string, msgs []*bus.Message)
}

// BatchSize is how many rows the relay reads at a time, at most
// MaxBatchSize (default DefaultBatchSize). It also bounds the duplicates a
// relay killed mid-batch leaves behind: the rows it published but had not
// yet marked.
func BatchSize(n int) RelayOption {
	return func(c *relayConfig) error {
		if n < 1 || n > MaxBatchSize {
			return fmt.Errorf("outbox: BatchSize(%d): want 1 to %d", n, MaxBatchSize)
		}
		c.batchSize = n
		return nil
	}
}

// Lease is how long the active relay holds the outbox without renewing
// (default DefaultLease); it renews every third of it. A relay that died
// without releasing its lease (SIGKILL, lost host) is replaced by a standby
// once the lease has run out. The holder renews it in the background, also
// while a slow Publish runs, and cancels its Publish at once when a renewal
// fails past the lease's end, before a standby may take over.
func Lease(d time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if d < 100*time.Millisecond {
			return fmt.Errorf("outbox: Lease(%s): want at least 100ms", d)
		}
		c.lease = d
		return nil
	}
}

// Backoff sets the wait after a failed publish or database error, doubled
// on each failure in a row from min up to max (default DefaultMinBackoff,
// DefaultMaxBackoff).
func Backoff(min, max time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if min <= 0 || max < min {
			return fmt.Errorf("outbox: Backoff(%s, %s): want 0 < min <= max", min, max)
		}
		c.minBackoff, c.maxBackoff = min, max
		return nil
	}
}

// PollInterval is how long an idle relay waits before it looks for new
// rows again, and how often a standby checks the lease (default
// DefaultPollInterval, or DefaultListenPollInterval on PostgreSQL with the
// pgx driver, where a notification wakes the relay at each commit). An
// idle look is one read of an index that holds only unpublished rows, so a
// short interval costs little; it bounds the latency a poll adds.
func PollInterval(d time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if d <= 0 {
			return fmt.Errorf("outbox: PollInterval(%s): want a positive duration", d)
		}
		c.pollInterval = d
		return nil
	}
}

// RetainPublished keeps published rows, marked with the time they were
// published, for d before deleting them, for inspection (default 0: a row
// is deleted as soon as it is published).
func RetainPublished(d time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if d < 0 {
			return fmt.Errorf("outbox: RetainPublished(%s): want zero or more", d)
		}
		c.retain = d
		return nil
	}
}

// Logger sets where the relay logs (default slog.Default()).
func Logger(l *slog.Logger) RelayOption {
	return func(c *relayConfig) error {
		if l == nil {
			return errors.New("outbox: Logger: the logger is nil (slog.New(slog.DiscardHandler) logs nothing)")
		}
		c.logger = l
		return nil
	}
}

// OnPublished calls f after every successful Publish, with the messages
// the bus accepted, before their rows are marked: for audit trails and
// metrics. f runs on the relay's goroutine and holds it up.
func OnPublished(f func(ctx context.Context, topic string, msgs []*bus.Message)) RelayOption {
	return func(c *relayConfig) error {
		if f == nil {
			return errors.New("outbox: OnPublished: the function is nil")
		}
		c.onPublished = f
		return nil
	}
}

// Relay publishes the rows that committed transactions wrote with Publish
// to a bus, in commit order per topic and key, and marks them published
// only after the bus returned. Run it in every replica of a service: one
// replica at a time holds the outbox lease and publishes, the others stand
// by to take over.
type Relay struct {
	db      *sql.DB
	bus     *bus.Bus
	cfg     relayConfig
	owner   string
	running atomic.Bool

	statsMu sync.Mutex
	stats   Stats
}

// Stats is what a relay has done since it was created; see Relay.Stats.
type Stats struct {
	// Leader reports whether this relay holds the outbox lease.
	Leader bool
	// Published counts the messages the bus accepted from this relay.
	Published uint64
	// Failed counts the messages the bus refused (each attempt counts).
	Failed uint64
	// Lag is how long the oldest unpublished row had been waiting when the
	// relay last looked, zero when the outbox was empty. Only the leader
	// looks: a standby reports its last value as leader.
	Lag time.Duration
	// LastError is the last publish or database error, nil after a
	// batch went through.
	LastError error
}

// NewRelay returns a relay from the outbox in db (migrated with Migrate) to
// b. Start it with Run.
func NewRelay(db *sql.DB, b *bus.Bus, opts ...RelayOption) (*Relay, error) {
	if db == nil {
		return nil, errors.New("outbox: NewRelay: db is nil")
	}
	if b == nil {
		return nil, errors.New("outbox: NewRelay: bus is nil")
	}
	cfg := relayConfig{
		batchSize:  DefaultBatchSize,
		lease:      DefaultLease,
		minBackoff: DefaultMinBackoff,
		maxBackoff: DefaultMaxBackoff,
		logger:     slog.Default(),
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("outbox: NewRelay: an option is nil")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	return &Relay{db: db, bus: b, cfg: cfg, owner: rand.Text()}, nil
}

// Stats returns a snapshot of the relay's counters and lag, for metrics
// and health checks.
func (r *Relay) Stats() Stats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return r.stats
}

func (r *Relay) updateStats(f func(*Stats)) {
	r.statsMu.Lock()
	f(&r.stats)
	r.statsMu.Unlock()
}

// Run relays until ctx is done, then releases the lease, so a standby takes
// over at once, and returns nil. Database and publish errors are logged and
// retried with backoff; Run returns an error only when it cannot start: the
// schema is missing (ErrNoSchema), the database is not supported, or Run is
// already running.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("outbox: Relay.Run is already running")
	}
	defer r.running.Store(false)
	d, err := detectDialect(ctx, r.db)
	if err == nil {
		err = checkSchema(ctx, r.db)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	w := &worker{Relay: r, lease: &lease{db: r.db, owner: r.owner, duration: r.cfg.lease}, poll: r.cfg.pollInterval}
	if d == postgres {
		var listening bool
		w.wake, listening = listen(ctx, r.db, r.cfg.logger)
		if listening && w.poll == 0 {
			w.poll = DefaultListenPollInterval
		}
	}
	if w.poll == 0 {
		w.poll = DefaultPollInterval
	}
	defer func() {
		releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := w.lease.release(releaseCtx); err != nil {
			r.cfg.logger.WarnContext(ctx, "outbox relay: lease not released; a standby takes over when it runs out", "err", err)
		}
	}()
	for {
		leading, err := w.lease.acquire(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.updateStats(func(s *Stats) { s.LastError = fmt.Errorf("outbox relay: lease: %w", err) })
		}
		if leading {
			w.lead(ctx)
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.poll):
		}
	}
}

// worker is the state of one Run.
type worker struct {
	*Relay
	lease *lease
	poll  time.Duration
	wake  <-chan struct{} // a commit to the outbox, when listening
	// unmarked holds rows published but not yet marked, because marking
	// failed: they are marked before anything is read again, so a database
	// hiccup does not publish them twice.
	unmarked  []int64
	cleanedUp time.Time
}

// cleanUpInterval is how often the leader deletes retained rows that are
// old enough.
const cleanUpInterval = time.Minute

// lead publishes while this relay holds the lease: a goroutine renews the
// lease every third of its duration and cancels the publishing when a
// renewal fails past the lease's end, so that no publish outlives it.
func (w *worker) lead(ctx context.Context) {
	ctx, lost := context.WithCancelCause(ctx)
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		w.lease.keep(ctx, lost)
	}()
	defer func() {
		lost(nil)
		<-kept
		w.updateStats(func(s *Stats) { s.Leader = false })
	}()
	w.updateStats(func(s *Stats) { s.Leader = true })
	w.cfg.logger.InfoContext(ctx, "outbox relay: holding the lease, publishing", "owner", w.owner)

	backoff := time.Duration(0)
	for {
		busy, err := w.step(ctx)
		switch {
		case ctx.Err() != nil:
			if context.Cause(ctx) == errLeaseLost {
				w.cfg.logger.WarnContext(ctx, "outbox relay: lease lost, standing by", "owner", w.owner)
			}
			return
		case err != nil:
			backoff = min(max(2*backoff, w.cfg.minBackoff), w.cfg.maxBackoff)
			w.updateStats(func(s *Stats) { s.LastError = err })
		default:
			backoff = 0
		}
		if busy && backoff == 0 {
			continue
		}
		timer := time.NewTimer(max(backoff, w.poll))
		select {
		case <-ctx.Done():
		case <-w.wake:
			if backoff > 0 {
				<-timer.C // a commit does not cut a backoff short
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// row is one outbox row on its way to the bus.
type row struct {
	seq       int64
	topic     string
	msg       *bus.Message
	createdAt time.Time
}

// step publishes one batch. It reports whether there may be more to do at
// once.
func (w *worker) step(ctx context.Context) (busy bool, err error) {
	if len(w.unmarked) > 0 {
		if err := w.mark(ctx, w.unmarked); err != nil {
			return false, err
		}
		w.unmarked = nil
	}
	if w.cfg.retain > 0 && time.Since(w.cleanedUp) > cleanUpInterval {
		if err := w.cleanUp(ctx); err != nil {
			return false, err
		}
		w.cleanedUp = time.Now()
	}
	rows, err := w.fetch(ctx)
	if err != nil {
		return false, err
	}
	lag := time.Duration(0)
	if len(rows) > 0 {
		lag = time.Since(rows[0].createdAt)
	}
	w.updateStats(func(s *Stats) { s.Lag = lag })
	if len(rows) == 0 {
		return false, nil
	}
	published, err := w.publish(ctx, rows)
	if len(published) > 0 {
		if merr := w.mark(ctx, published); merr != nil {
			w.unmarked = published
			return false, errors.Join(err, merr)
		}
	}
	w.cfg.logger.DebugContext(ctx, "outbox relay: batch published", "rows", len(rows), "published", len(published), "lag", lag)
	if err != nil {
		return false, err
	}
	w.updateStats(func(s *Stats) { s.LastError = nil })
	return len(rows) == w.cfg.batchSize, nil
}

func (w *worker) fetch(ctx context.Context) ([]row, error) {
	rs, err := w.db.QueryContext(ctx, `SELECT seq, topic, msg_key, id, header, payload, event_time, created_at
FROM eventbus_outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1`, w.cfg.batchSize)
	if err != nil {
		return nil, fmt.Errorf("outbox relay: read outbox: %w", err)
	}
	defer rs.Close()
	var rows []row
	for rs.Next() {
		var (
			r                    row
			m                    bus.Message
			header               string
			eventTime, createdAt int64
		)
		if err := rs.Scan(&r.seq, &r.topic, &m.Key, &m.ID, &header, &m.Payload, &eventTime, &createdAt); err != nil {
			return nil, fmt.Errorf("outbox relay: read outbox: %w", err)
		}
		if err := json.Unmarshal([]byte(header), &m.Header); err != nil {
			return nil, fmt.Errorf("outbox relay: row %d (id %s): header: %w", r.seq, m.ID, err)
		}
		m.Time = time.Unix(0, eventTime)
		r.msg, r.createdAt = &m, time.UnixMicro(createdAt)
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("outbox relay: read outbox: %w", err)
	}
	return rows, nil
}

// publish sends rows to the bus in waves: a wave holds at most one message
// per topic and key, the earliest not yet sent, so a key's next message goes
// out only after the bus accepted the one before. A message the bus refuses
// holds back the rest of its key until the next batch; other keys go on.
// It returns the sequence numbers of the rows the bus accepted.
func (w *worker) publish(ctx context.Context, rows []row) (published []int64, err error) {
	type topicKey struct{ topic, key string }
	var waves [][]row
	seen := make(map[topicKey]int)
	for _, r := range rows {
		wave := 0
		if r.msg.Key != "" {
			k := topicKey{r.topic, r.msg.Key}
			wave = seen[k]
			seen[k]++
		}
		if wave == len(waves) {
			waves = append(waves, nil)
		}
		waves[wave] = append(waves[wave], r)
	}
	failed := make(map[topicKey]bool)
	var errs []error
	for _, wave := range waves {
		byTopic := make(map[string][]row)
		var topics []string
		for _, r := range wave {
			if failed[topicKey{r.topic, r.msg.Key}] {
				continue
			}
			if byTopic[r.topic] == nil {
				topics = append(topics, r.topic)
			}
			byTopic[r.topic] = append(byTopic[r.topic], r)
		}
		for _, topic := range topics {
			batch := byTopic[topic]
			ok, err := w.publishTopic(ctx, topic, batch)
			for i, r := range batch {
				if ok[i] {
					published = append(published, r.seq)
				} else {
					failed[topicKey{r.topic, r.msg.Key}] = true
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return published, errors.Join(errs...)
}

// publishTopic publishes batch, all to topic, and reports which messages
// the bus accepted.
func (w *worker) publishTopic(ctx context.Context, topic string, batch []row) (ok []bool, err error) {
	msgs := make([]*bus.Message, len(batch))
	for i, r := range batch {
		msgs[i] = r.msg
	}
	ok = make([]bool, len(batch))
	err = w.bus.Publish(ctx, topic, msgs...)
	var pe *bus.PublishError
	switch {
	case err == nil:
		for i := range ok {
			ok[i] = true
		}
	case errors.As(err, &pe):
		for i := range ok {
			ok[i] = true
		}
		for _, f := range pe.Failed {
			ok[f.Index] = false
		}
	}
	accepted := make([]*bus.Message, 0, len(msgs))
	for i, m := range msgs {
		if ok[i] {
			accepted = append(accepted, m)
		}
	}
	if len(accepted) > 0 && w.cfg.onPublished != nil {
		w.cfg.onPublished(ctx, topic, accepted)
	}
	failures := len(msgs) - len(accepted)
	w.updateStats(func(s *Stats) {
		s.Published += uint64(len(accepted))
		s.Failed += uint64(failures)
	})
	if err == nil {
		return ok, nil
	}
	first := batch[0]
	w.cfg.logger.WarnContext(ctx, "outbox relay: publish failed, retrying with backoff",
		"topic", topic, "failed", failures, "of", len(msgs), "first_seq", first.seq, "first_id", first.msg.ID,
		"lag", time.Since(first.createdAt), "err", err)
	w.noteFailure(ctx, batch, ok, err)
	return ok, fmt.Errorf("outbox relay: publish to %q: %w", topic, err)
}

// noteFailure records the attempt and error on the rows that failed, for
// whoever inspects the table. It is best effort: the next batch retries
// them either way.
func (w *worker) noteFailure(ctx context.Context, batch []row, ok []bool, err error) {
	var seqs []int64
	for i, r := range batch {
		if !ok[i] {
			seqs = append(seqs, r.seq)
		}
	}
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	args := []any{msg}
	q := `UPDATE eventbus_outbox SET attempts = attempts + 1, last_error = $1 WHERE seq IN (` + placeholders(2, &args, seqs) + `)`
	// The publish context may be done: this bookkeeping has its own.
	noteCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, uerr := w.db.ExecContext(noteCtx, q, args...); uerr != nil {
		w.cfg.logger.DebugContext(ctx, "outbox relay: could not record the failure on its rows", "err", uerr)
	}
}

// mark deletes the published rows, or marks them published when they are
// retained.
func (w *worker) mark(ctx context.Context, seqs []int64) error {
	// Marking what the bus already holds must not be cut short by shutdown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var args []any
	q := `DELETE FROM eventbus_outbox WHERE seq IN (`
	if w.cfg.retain > 0 {
		args = append(args, time.Now().UnixMicro())
		q = `UPDATE eventbus_outbox SET published_at = $1 WHERE seq IN (`
	}
	q += placeholders(len(args)+1, &args, seqs) + `)`
	if _, err := w.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("outbox relay: mark %d published rows: %w", len(seqs), err)
	}
	return nil
}

// cleanUp deletes retained rows published longer than the retention ago.
func (w *worker) cleanUp(ctx context.Context) error {
	cutoff := time.Now().Add(-w.cfg.retain).UnixMicro()
	if _, err := w.db.ExecContext(ctx, `DELETE FROM eventbus_outbox WHERE published_at IS NOT NULL AND published_at < $1`, cutoff); err != nil {
		return fmt.Errorf("outbox relay: delete old published rows: %w", err)
	}
	return nil
}

// placeholders appends values to args and returns "$first, $first+1, ..."
// for them.
func placeholders(first int, args *[]any, values []int64) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
		*args = append(*args, v)
	}
	return b.String()
}
