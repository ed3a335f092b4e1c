package outbox_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	"github.com/eventbus-go/eventbus/internal/testdb"
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	"github.com/eventbus-go/eventbus/outbox"
	_ "github.com/eventbus-go/eventbus/pulsar"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for testdb
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", for testdb
)

// The fault tests write a stream of events through the outbox, in
// transactions of which some roll back, while they hurt the relay: two
// relays at once, one stopped mid-stream (TestFaultTwoRelays); the bus
// refusing every publish for a while (TestFaultBusUnavailable); the relay
// process SIGKILLed mid-stream and started again (TestFaultRelayKilled).
// Each checks on every database and backend that every committed event was
// published at least once, none of a rolled-back transaction ever, each
// key's events in commit order, and that duplicates stay within what was in
// flight when the fault struck. They log the duplicates they counted.

// faultBatch is the relays' batch size, and so what a relay has in flight.
const faultBatch = 20

// backends are the buses the fault tests publish to. Kafka and Pulsar are
// the shared test brokers: the tests never stop them.
var backends = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"memory", func(*testing.T) string { return "mem://" }},
	{"kafka", func(t *testing.T) string {
		return "kafka://" + testbroker.Kafka(t) + "?create_topics=true&partitions=3"
	}},
	{"pulsar", func(t *testing.T) string { return testbroker.Pulsar(t) }},
}

// eachBackend runs f for every database and backend.
func eachBackend(t *testing.T, f func(t *testing.T, db testdb.DB, busURL string)) {
	for _, kind := range testdb.Kinds {
		t.Run(kind, func(t *testing.T) {
			for _, backend := range backends {
				t.Run(backend.name, func(t *testing.T) {
					url := backend.url(t)
					db := testdb.Open(t, kind, outbox.SQLiteDSN)
					require.NoError(t, outbox.Migrate(t.Context(), db.DB))
					f(t, db, url)
				})
			}
		})
	}
}

func uniqueTopic(t *testing.T) string {
	return "outbox-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func openBus(t *testing.T, url string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(t.Context(), url, bus.Logger(testLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, b.Close(ctx))
	})
	return b
}

// event names one written message: its key and its place among the
// messages of that key, counting rolled-back ones.
type event struct {
	key   string
	index int
}

func (e event) payload() []byte { return []byte(e.key + ":" + strconv.Itoa(e.index)) }

func parseEvent(payload []byte) (event, error) {
	key, index, ok := strings.Cut(string(payload), ":")
	i, err := strconv.Atoi(index)
	if !ok || err != nil {
		return event{}, fmt.Errorf("payload %q is not key:index", payload)
	}
	return event{key, i}, nil
}

// producer writes events to the outbox in transactions of one to three
// messages, one transaction at a time; every fifth transaction rolls back.
type producer struct {
	db    *sql.DB
	topic string
	keys  int

	mu         sync.Mutex
	next       map[string]int
	committed  map[event]bool
	rolledBack map[event]bool
	progress   chan struct{} // a value after each transaction
}

func newProducer(db *sql.DB, topic string, keys int) *producer {
	return &producer{db: db, topic: topic, keys: keys, next: map[string]int{},
		committed: map[event]bool{}, rolledBack: map[event]bool{}, progress: make(chan struct{}, 1)}
}

// write writes n committed events.
func (p *producer) write(ctx context.Context, n int) error {
	for tx := 0; p.countCommitted() < n; tx++ {
		size := 1 + tx%3
		rollback := tx%5 == 4
		var events []event
		var msgs []*bus.Message
		p.mu.Lock()
		for i := range size {
			key := "k" + strconv.Itoa((tx+i)%p.keys)
			e := event{key, p.next[key]}
			p.next[key]++
			events = append(events, e)
			msgs = append(msgs, &bus.Message{Key: key, Payload: e.payload()})
		}
		p.mu.Unlock()
		errRollback := errors.New("business rule failed")
		err := testdb.InTx(ctx, p.db, func(tx *sql.Tx) error {
			if err := outbox.Publish(ctx, tx, p.topic, msgs...); err != nil {
				return err
			}
			if rollback {
				return errRollback
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRollback) {
			return fmt.Errorf("transaction %d: %w", tx, err)
		}
		p.mu.Lock()
		for _, e := range events {
			if rollback {
				p.rolledBack[e] = true
			} else {
				p.committed[e] = true
			}
		}
		p.mu.Unlock()
		select {
		case p.progress <- struct{}{}:
		default:
		}
	}
	return nil
}

// waitCommitted returns once n events were committed.
func (p *producer) waitCommitted(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(time.Minute)
	for p.countCommitted() < n {
		select {
		case <-p.progress:
		case <-deadline:
			require.FailNowf(t, "producer stuck", "%d of %d events committed within a minute", p.countCommitted(), n)
		}
	}
}

func (p *producer) countCommitted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.committed)
}

// checker takes in published events and checks them against what the
// producer committed.
type checker struct {
	mu          sync.Mutex
	seen        map[event]int // deliveries per event
	positions   map[string]bool
	redelivered int // deliveries of a stored message seen before: the consumer's doing
	highest     map[string]int
	disorder    []string
	rolledBack  []event
	duplicates  int
	changed     chan struct{}
}

func newChecker() *checker {
	return &checker{seen: map[event]int{}, positions: map[string]bool{}, highest: map[string]int{}, changed: make(chan struct{}, 1)}
}

// add records a delivery of e, stored by the broker at position (see
// brokerPosition). A first delivery below the highest index seen for its
// key is out of order: it came after a later event. A later delivery of an
// event from another position is a duplicate: it was published twice. A
// later delivery from the same position is the consumer's redelivery, which
// says nothing of the relay; it is counted apart.
func (c *checker) add(p *producer, e event, position string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if position != "" {
		if c.positions[position] {
			c.redelivered++
			return
		}
		c.positions[position] = true
	}
	c.seen[e]++
	if c.seen[e] > 1 {
		c.duplicates++
		return
	}
	if p.isRolledBack(e) {
		c.rolledBack = append(c.rolledBack, e)
	}
	if h, ok := c.highest[e.key]; ok && e.index < h {
		c.disorder = append(c.disorder, fmt.Sprintf("%s:%d after %s:%d", e.key, e.index, e.key, h))
	}
	c.highest[e.key] = max(c.highest[e.key], e.index)
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (p *producer) isRolledBack(e event) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rolledBack[e]
}

func (c *checker) countSeen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// waitFor returns once n distinct events were seen, failing the test after
// a minute.
func (c *checker) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(time.Minute)
	for c.countSeen() < n {
		select {
		case <-c.changed:
		case <-deadline:
			require.FailNowf(t, "events missing", "saw %d of %d events within a minute", c.countSeen(), n)
		}
	}
}

// verify checks the outcome once the producer is done: every committed
// event seen, nothing rolled back, order kept, at most maxDuplicates.
func (c *checker) verify(t *testing.T, p *producer, maxDuplicates int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	var missing []event
	for e := range p.committed {
		if c.seen[e] == 0 {
			missing = append(missing, e)
		}
	}
	assert.Empty(t, missing, "committed events never published")
	assert.Empty(t, c.rolledBack, "events of rolled-back transactions published")
	assert.Empty(t, c.disorder, "events out of order within their key")
	assert.LessOrEqual(t, c.duplicates, maxDuplicates, "duplicates beyond what was in flight")
	t.Logf("%d committed events, %d rolled back, %d published twice (bound %d), %d redelivered by the consumer",
		len(p.committed), len(p.rolledBack), c.duplicates, maxDuplicates, c.redelivered)
}

// consume feeds every message of topic on b to c.
func consume(t *testing.T, b *bus.Bus, topic string, p *producer, c *checker) {
	t.Helper()
	_, err := b.Subscribe(t.Context(), topic, func(_ context.Context, m *bus.Message) error {
		e, err := parseEvent(m.Payload)
		if err != nil {
			return bus.Permanent(err)
		}
		c.add(p, e, brokerPosition(m))
		return nil
	}, bus.Group("checker-"+topic), bus.Concurrency(4)) // a group per test: one shared across topics rebalances whenever any test starts or ends
	require.NoError(t, err)
}

// brokerPosition names where the broker stored a delivered message, so
// that a redelivery of one stored message is told apart from a message
// stored twice; "" on mem://, whose consumers in these tests never see a
// redelivery.
func brokerPosition(m *bus.Message) string {
	var km *kafka.Message
	if m.As(&km) {
		return fmt.Sprintf("%d/%d", km.TopicPartition.Partition, km.TopicPartition.Offset)
	}
	var pm pulsar.ConsumerMessage
	if m.As(&pm) {
		return pm.ID().String()
	}
	return ""
}

// runRelay runs a relay in the background; stop cancels it and waits.
func runRelay(t *testing.T, db *sql.DB, b *bus.Bus, opts ...outbox.RelayOption) (r *outbox.Relay, stop func()) {
	t.Helper()
	defaults := []outbox.RelayOption{outbox.PollInterval(20 * time.Millisecond), outbox.BatchSize(faultBatch),
		outbox.Lease(time.Second), outbox.Backoff(10*time.Millisecond, 200*time.Millisecond), outbox.Logger(testLogger(t))}
	r, err := outbox.NewRelay(db, b, append(defaults, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			assert.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return r, stop
}

func TestFaultTwoRelays(t *testing.T) {
	eachBackend(t, func(t *testing.T, db testdb.DB, busURL string) {
		const events, keys = 300, 8
		topic := uniqueTopic(t)
		b := openBus(t, busURL)
		p, c := newProducer(db.DB, topic, keys), newChecker()
		consume(t, b, topic, p, c)

		first, stopFirst := runRelay(t, db.DB, b)
		second, stopSecond := runRelay(t, db.Reopen(t), b)
		require.NoError(t, p.write(t.Context(), events/2))
		c.waitFor(t, events/4)
		// Stop whichever leads, mid-stream: the other takes over, and a
		// third joins as the new standby.
		if second.Stats().Leader {
			stopSecond()
		} else {
			stopFirst()
		}
		runRelay(t, db.Reopen(t), b)
		require.NoError(t, p.write(t.Context(), events))
		c.waitFor(t, p.countCommitted())
		c.verify(t, p, faultBatch)
		published := first.Stats().Published + second.Stats().Published
		assert.Positive(t, published)
	})
}

// errUnavailable is what flakyConn answers while it is down.
var errUnavailable = errors.New("flaky: the backend is unavailable")

// flakyConn is a backend that refuses every publish while it is down and
// passes publishes on to target while it is up: a broker outage as the
// relay sees it, without stopping the shared test brokers.
type flakyConn struct {
	target  *bus.Bus
	down    atomic.Bool
	refused atomic.Int64
}

func (f *flakyConn) Publish(ctx context.Context, topic string, msgs []driver.Message) error {
	if f.down.Load() {
		f.refused.Add(int64(len(msgs)))
		return errUnavailable
	}
	out := make([]*bus.Message, len(msgs))
	for i, m := range msgs {
		out[i] = &bus.Message{ID: m.ID, Key: m.Key, Payload: m.Payload, Header: m.Header, Time: m.Time}
	}
	err := f.target.Publish(ctx, topic, out...)
	var pe *bus.PublishError
	if errors.As(err, &pe) {
		perMessage := make(driver.MessageErrors, len(msgs))
		for _, failed := range pe.Failed {
			perMessage[failed.Index] = failed.Err
		}
		return perMessage
	}
	return err
}

func (f *flakyConn) Subscribe(context.Context, string, driver.SubscribeConfig) (driver.Subscription, error) {
	return nil, errors.New("flaky: publish only")
}
func (f *flakyConn) Capabilities() driver.Capabilities { return driver.Capabilities{} }
func (f *flakyConn) As(any) bool                       { return false }
func (f *flakyConn) Close(context.Context) error       { return nil }

func TestFaultBusUnavailable(t *testing.T) {
	eachBackend(t, func(t *testing.T, db testdb.DB, busURL string) {
		const events, keys = 300, 8
		topic := uniqueTopic(t)
		b := openBus(t, busURL)
		p, c := newProducer(db.DB, topic, keys), newChecker()
		consume(t, b, topic, p, c)
		flaky := &flakyConn{target: b}
		flakyBus, err := bus.NewBus(flaky, "flaky://", bus.Logger(testLogger(t)))
		require.NoError(t, err)
		r, _ := runRelay(t, db.DB, flakyBus)

		require.NoError(t, p.write(t.Context(), events/3))
		c.waitFor(t, events/6)
		flaky.down.Store(true)
		require.NoError(t, p.write(t.Context(), 2*events/3))
		require.Eventually(t, func() bool { return flaky.refused.Load() > 3*faultBatch }, time.Minute, 5*time.Millisecond,
			"the relay keeps trying while the backend is down")
		stats := r.Stats()
		assert.ErrorIs(t, stats.LastError, errUnavailable)
		assert.Positive(t, stats.Failed)
		assert.Positive(t, stats.Lag, "the relay reports the lag growing")
		flaky.down.Store(false)
		require.NoError(t, p.write(t.Context(), events))
		c.waitFor(t, p.countCommitted())
		c.verify(t, p, 0) // a refused publish published nothing
		require.Eventually(t, func() bool { return r.Stats().LastError == nil }, time.Minute, 5*time.Millisecond)
	})
}

// The environment of the relay process TestFaultRelayKilled starts: the
// test binary itself, which TestMain turns into a relay (relayProcess).
const (
	envRelayProcess = "OUTBOX_TEST_RELAY_PROCESS"
	envRelayDriver  = "OUTBOX_TEST_RELAY_DRIVER"
	envRelayDSN     = "OUTBOX_TEST_RELAY_DSN"
	envRelayBus     = "OUTBOX_TEST_RELAY_BUS"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRelayProcess) != "" {
		os.Exit(relayProcess())
	}
	os.Exit(m.Run())
}

// relayProcess relays from the database to the bus its environment names
// until SIGTERM, and prints "published <payload>" for each message once the
// bus accepted it.
func relayProcess() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Println("ready") // SIGTERM now stops the relay cleanly
	fail := func(err error) int {
		if ctx.Err() != nil {
			return 0 // stopped while starting
		}
		fmt.Fprintln(os.Stderr, "relay process:", err)
		return 1
	}
	db, err := sql.Open(os.Getenv(envRelayDriver), os.Getenv(envRelayDSN))
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	b, err := bus.Open(ctx, os.Getenv(envRelayBus))
	if err != nil {
		return fail(err)
	}
	defer b.Close(context.Background())
	r, err := outbox.NewRelay(db, b, outbox.BatchSize(faultBatch), outbox.Lease(time.Second), outbox.PollInterval(20*time.Millisecond),
		outbox.OnPublished(func(_ context.Context, _ string, msgs []*bus.Message) {
			var lines strings.Builder
			for _, m := range msgs {
				fmt.Fprintf(&lines, "published %s\n", m.Payload)
			}
			// One write: it is in the pipe before the rows are marked.
			_, _ = io.WriteString(os.Stdout, lines.String())
		}))
	if err != nil {
		return fail(err)
	}
	if err := r.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// relayChild is a running relay process.
type relayChild struct {
	cmd      *exec.Cmd
	reported int           // messages it reported published; read by its output's reader only
	killAt   chan struct{} // closed once it reported what the test kills it after
	ready    chan struct{} // closed once SIGTERM stops it cleanly
	done     chan struct{}
}

// startRelayProcess starts a relay process; each message it reports is
// passed to onPublished, and killAt is closed as soon as it has reported
// killAfter messages, so that the test kills it mid-stream, with work left.
func startRelayProcess(t *testing.T, db testdb.DB, busURL string, killAfter int, onPublished func(payload []byte)) *relayChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRelayProcess+"=1", envRelayDriver+"="+db.Driver, envRelayDSN+"="+db.DSN, envRelayBus+"="+busURL)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	child := &relayChild{cmd: cmd, ready: make(chan struct{}), killAt: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(child.done)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if lines.Text() == "ready" {
				close(child.ready)
			}
			if payload, ok := strings.CutPrefix(lines.Text(), "published "); ok {
				onPublished([]byte(payload))
				if child.reported++; child.reported == killAfter {
					close(child.killAt)
				}
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return child
}

// waitForKill returns once the child reported what it is killed after.
func (c *relayChild) waitForKill(t *testing.T) {
	t.Helper()
	select {
	case <-c.killAt:
	case <-time.After(time.Minute):
		require.FailNow(t, "the relay process did not report enough messages within a minute")
	}
}

// kill SIGKILLs the child and waits until it is gone and its output read.
func (c *relayChild) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	<-c.done
	err := c.cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
}

func TestFaultRelayKilled(t *testing.T) {
	eachBackend(t, func(t *testing.T, db testdb.DB, busURL string) {
		const events, keys, kills = 600, 8, 2
		topic := uniqueTopic(t)
		p, c := newProducer(db.DB, topic, keys), newChecker()
		onPublished := func([]byte) {}
		if busURL == "mem://" {
			// An in-memory bus lives and dies with the relay process: what
			// it accepted is what the process reports.
			onPublished = func(payload []byte) {
				e, err := parseEvent(payload)
				assert.NoError(t, err)
				c.add(p, e, "")
			}
		} else {
			consume(t, openBus(t, busURL), topic, p, c)
		}

		produced := make(chan error, 1)
		go func() { produced <- p.write(t.Context(), events) }()
		// Each process is killed once it has published something and the
		// producer is a further third through, so that there is always
		// work in flight at the kill and work left for the next process.
		const killAfter = 1
		child := startRelayProcess(t, db, busURL, killAfter, onPublished)
		for k := range kills {
			child.waitForKill(t)
			p.waitCommitted(t, (k+1)*events/(kills+1))
			child.kill(t)
			// The next process takes over once the killed one's lease ran out.
			child = startRelayProcess(t, db, busURL, killAfter, onPublished)
		}
		require.NoError(t, <-produced)
		c.waitFor(t, p.countCommitted())
		select {
		case <-child.ready:
		case <-child.done:
		}
		require.NoError(t, child.cmd.Process.Signal(syscall.SIGTERM))
		<-child.done
		require.NoError(t, child.cmd.Wait(), "the last relay process stops cleanly on SIGTERM")
		c.verify(t, p, kills*faultBatch)
	})
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
