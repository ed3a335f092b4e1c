package faults

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// The transactional stream: txKeys keys of txPerKey inputs each,
// "key-<k>/<seq>"; a last round "key-<k>/<txPerKey>" marks the end.
const (
	txKeys   = 100
	txPerKey = 100
	txTotal  = txKeys * txPerKey
)

var buildTransformOnce = sync.OnceValues(func() (string, error) { return buildProgram("transform") })

func buildTransform(t *testing.T) string {
	binary, err := buildTransformOnce()
	require.NoError(t, err)
	return binary
}

// TestTransactionsExactlyOnceKafka turns 10,000 inputs into outputs with
// transform processes, SIGKILLing one mid-stream again and again and
// starting a new one. A read_committed reader of the outputs must see each
// exactly once, in per-key order. A last round of inputs, handled after
// every member is gone but one, marks the end: its output comes after
// anything else of its key that could still become visible.
func TestTransactionsExactlyOnceKafka(t *testing.T) {
	s := newTxStream(t, "tx", 6)
	committed := s.committed

	handled := map[string]*int{}
	var handledMu sync.Mutex
	start := func(name string) *member {
		count := new(int)
		handledMu.Lock()
		handled[name] = count
		handledMu.Unlock()
		return s.start(t, name, func(string) {
			handledMu.Lock()
			*count++
			handledMu.Unlock()
		}, "-work", "2ms", "-concurrency", "8", "-fail", "0.05")
	}
	publishRounds(t, s.url, s.in, 0, txPerKey)

	members := []*member{start("t1"), start("t2")}
	next := 3
	for _, share := range []int{10, 30, 50, 70} {
		committed.waitFor(t, 4*time.Minute, txTotal*share/100)
		victim := members[0]
		victim.kill(t)
		t.Logf("at %d%% of outputs: SIGKILLed %s", share, victim.name)
		members = append(members[1:], start(fmt.Sprintf("t%d", next)))
		next++
	}
	committed.waitFor(t, 4*time.Minute, txTotal)
	require.NoError(t, members[0].terminate(t), "graceful close of %s", members[0].name)
	publishRounds(t, s.url, s.in, txPerKey, txPerKey+1)
	committed.waitFor(t, 4*time.Minute, txTotal+txKeys)
	require.NoError(t, members[1].terminate(t), "graceful close of %s", members[1].name)

	r := committed.report(txPerKey + 1)
	handledMu.Lock()
	runs := 0
	for _, n := range handled {
		runs += *n
	}
	handledMu.Unlock()
	t.Logf("read_committed: %d outputs, %d distinct, %d duplicates, %d missing, %d out of order; %d successful handler runs; %d outputs handed to the reader again",
		r.records, r.distinct, r.duplicates, r.missing, r.outOfOrder, runs, committed.redeliveries())
	assert.Zero(t, r.missing, "outputs lost")
	assert.Zero(t, r.duplicates, "outputs seen twice; some of them: %v", committed.duplicated(5))
	assert.Zero(t, r.outOfOrder, "per-key order violations")
	assert.Greater(t, runs, txTotal+txKeys, "the SIGKILLs made messages run again")
}

// TestTransactionsFenceZombieKafka freezes a transform process (SIGSTOP)
// while it handles messages, lets a new member take its partition over
// and finish the stream, then lets the old one go on (SIGCONT): it must
// not commit what it was doing. The reader sees each output once.
func TestTransactionsFenceZombieKafka(t *testing.T) {
	s := newTxStream(t, "tx-fence", 1)
	committed := s.committed

	const keys, perKey = 4, 10
	publishKeys(t, s.url, s.in, keys, 0, perKey)
	var zombieLines sync.Mutex
	zombieAfterCont, resumed := 0, false
	zombie := s.start(t, "zombie", func(string) {
		zombieLines.Lock()
		if resumed {
			zombieAfterCont++
		}
		zombieLines.Unlock()
	}, "-work", "300ms", "-concurrency", "2", "-fail", "0")
	committed.waitFor(t, 2*time.Minute, 4)
	require.NoError(t, zombie.cmd.Process.Signal(syscall.SIGSTOP))
	t.Logf("zombie frozen with %d outputs committed", committed.len())

	successor := s.start(t, "successor", func(string) {}, "-work", "5ms", "-concurrency", "2", "-fail", "0")
	committed.waitFor(t, 2*time.Minute, keys*perKey)

	zombieLines.Lock()
	resumed = true
	zombieLines.Unlock()
	require.NoError(t, zombie.cmd.Process.Signal(syscall.SIGCONT))
	require.NoError(t, zombie.terminate(t), "the zombie's graceful close")
	zombieLines.Lock()
	t.Logf("the zombie finished %d handler runs after it was let go", zombieAfterCont)
	zombieLines.Unlock()

	// One output partition: the end marker's output comes after anything
	// the zombie committed.
	publishKeys(t, s.url, s.in, keys, perKey, perKey+1)
	committed.waitFor(t, 2*time.Minute, keys*(perKey+1))
	require.NoError(t, successor.terminate(t))

	r := committed.reportKeys(keys, perKey+1)
	t.Logf("read_committed: %d outputs, %d duplicates, %d missing, %d out of order", r.records, r.duplicates, r.missing, r.outOfOrder)
	assert.Zero(t, r.missing, "outputs lost")
	assert.Zero(t, r.duplicates, "outputs committed by the zombie after it was replaced; some of them: %v", committed.duplicated(5))
	assert.Zero(t, r.outOfOrder, "per-key order violations")
}

// txStream is a transform service's setup: an input and an output topic
// with partitions each, a group, and a read_committed reader of the
// outputs.
type txStream struct {
	url, binary, in, out, group string
	committed                   *outputs
}

func newTxStream(t *testing.T, prefix string, partitions int) *txStream {
	suffix := rand.Text()[:10]
	s := &txStream{
		url:       "kafka://" + testbroker.Kafka(t) + fmt.Sprintf("?create_topics=true&partitions=%d", partitions),
		binary:    buildTransform(t),
		in:        prefix + "-in-" + suffix,
		out:       prefix + "-out-" + suffix,
		group:     prefix + "-" + suffix,
		committed: newOutputs(),
	}
	ensureTopic(t, s.url, s.in)
	ensureTopic(t, s.url, s.out)
	readOutputs(t, s.url, s.out, s.committed)
	return s
}

// start starts a transform member with the extra flags.
func (s *txStream) start(t *testing.T, name string, onLine func(string), flags ...string) *member {
	args := append([]string{"-url", s.url, "-in", s.in, "-out", s.out, "-group", s.group, "-name", name}, flags...)
	return startProcess(t, name, exec.Command(s.binary, args...), onLine)
}

// publishRounds publishes rounds [from, to) of the stream, each round one
// message per key.
func publishRounds(t *testing.T, url, topic string, from, to int) {
	t.Helper()
	publishKeys(t, url, topic, txKeys, from, to)
}

func publishKeys(t *testing.T, url, topic string, keys, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, url)
	require.NoError(t, err)
	defer b.Close(context.Background())
	for seq := from; seq < to; seq++ {
		batch := make([]*bus.Message, keys)
		for k := range keys {
			batch[k] = &bus.Message{Key: fmt.Sprint("key-", k), Payload: fmt.Appendf(nil, "key-%d/%d", k, seq)}
		}
		require.NoError(t, b.Publish(ctx, topic, batch...), "round %d", seq)
	}
}

// outputs records the outputs a reader handled, in order. An output the
// reader is handed again, with the same ID, is counted apart and not
// recorded: the reader itself delivers at least once (a rebalance of its
// own group hands it what it had not committed yet), and what counts is
// what the transform committed. Outputs committed twice have IDs of
// their own, one per handler run.
type outputs struct {
	mu       sync.Mutex
	payloads []string
	ids      map[string]bool
	again    int
	where    map[string][]string // payload -> "partition/offset member id" of each copy
	changed  chan struct{}
}

func newOutputs() *outputs {
	return &outputs{ids: make(map[string]bool), where: make(map[string][]string), changed: make(chan struct{})}
}

func (o *outputs) add(m *bus.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ids[m.ID] {
		o.again++
		return
	}
	o.ids[m.ID] = true
	payload := string(m.Payload)
	partition, offset := m.Position()
	o.where[payload] = append(o.where[payload], fmt.Sprintf("%d/%d %s %s", partition, offset, m.Header["member"], m.ID))
	o.payloads = append(o.payloads, payload)
	close(o.changed)
	o.changed = make(chan struct{})
}

// len counts the distinct outputs read.
func (o *outputs) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.where)
}

// duplicated describes up to n outputs read more than once: where each
// copy was.
func (o *outputs) duplicated(n int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var dups []string
	for payload, copies := range o.where {
		if len(copies) > 1 && len(dups) < n {
			dups = append(dups, fmt.Sprintf("%s at %v", payload, copies))
		}
	}
	return dups
}

// redeliveries counts the outputs the reader was handed again.
func (o *outputs) redeliveries() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.again
}

// waitFor waits until n distinct outputs were read.
func (o *outputs) waitFor(t *testing.T, timeout time.Duration, n int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		got, changed := len(o.where), o.changed
		o.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			require.FailNowf(t, "timed out", "%d of %d outputs read after %v", got, n, timeout)
		}
	}
}

// readOutputs reads topic in a group of its own for the rest of the test.
func readOutputs(t *testing.T, url, topic string, o *outputs) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close(context.Background()) })
	_, err = b.Subscribe(t.Context(), topic, func(_ context.Context, m *bus.Message) error {
		o.add(m)
		return nil
	}, bus.Group("reader-"+rand.Text()[:10]))
	require.NoError(t, err)
}

type outputReport struct {
	records, distinct, duplicates, missing, outOfOrder int
}

// report checks the outputs of txKeys keys with rounds seqs each.
func (o *outputs) report(rounds int) outputReport { return o.reportKeys(txKeys, rounds) }

// reportKeys checks the outputs "out/key-<k>/<seq>" of keys keys with
// rounds seqs each: once each, and in seq order per key.
func (o *outputs) reportKeys(keys, rounds int) outputReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := outputReport{records: len(o.payloads)}
	seen := make(map[string]bool)
	last := make(map[string]int)
	for _, p := range o.payloads {
		if seen[p] {
			r.duplicates++
			continue
		}
		seen[p] = true
		key, seq, _ := strings.Cut(strings.TrimPrefix(p, "out/"), "/")
		n, _ := strconv.Atoi(seq)
		if prev, ok := last[key]; ok && n < prev {
			r.outOfOrder++
		}
		last[key] = n
	}
	r.distinct = len(seen)
	r.missing = keys*rounds - r.distinct
	return r
}
