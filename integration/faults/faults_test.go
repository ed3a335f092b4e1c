package faults

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

const (
	keys       = 200
	perKey     = 100
	total      = keys * perKey
	partitions = 6
)

func TestFaultsKafka(t *testing.T) {
	topic := "faults-" + rand.Text()[:10]
	url := "kafka://" + testbroker.Kafka(t) + fmt.Sprintf("?create_topics=true&partitions=%d", partitions)
	if extra := os.Getenv("EVENTBUS_FAULTS_KAFKA_PARAMS"); extra != "" {
		url += "&" + extra
	}
	runFaults(t, url, topic)
}

func TestFaultsPulsar(t *testing.T) {
	topic := "faults-" + rand.Text()[:10]
	admin := testbroker.PulsarAdmin(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut,
		admin+"/admin/v2/persistent/public/default/"+topic+"/partitions", strings.NewReader(strconv.Itoa(partitions)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "create the partitioned topic: %s", body)
	runFaults(t, testbroker.Pulsar(t), topic)
}

// runFaults publishes a keyed stream and consumes it with three member
// processes in one group; one is SIGKILLed at 30 % and another SIGTERMed
// at 60 %, each replaced by a new member.
func runFaults(t *testing.T, url, topic string) {
	binary := buildMember(t)
	group := "faults-" + rand.Text()[:10]
	ensureTopic(t, url, topic)

	h := newHandlings()
	members := map[string]*member{}
	start := func(name string) {
		members[name] = startMember(t, binary, h, url, topic, group, name)
	}
	for _, name := range []string{"m1", "m2", "m3"} {
		start(name)
	}
	published := make(chan error, 1)
	go func() { published <- publish(t.Context(), url, topic) }()
	t.Cleanup(func() { <-published })
	timeout := 3 * time.Minute
	h.waitFor(t, timeout, total*3/10, "m1", "m2", "m3")
	t.Logf("at 30%%: handled per member %v", h.perMember())
	killedAt := time.Now()
	members["m1"].kill(t)
	start("m4")

	h.waitFor(t, timeout, total*6/10, "m4")
	t.Logf("at 60%%: handled per member %v", h.perMember())
	termStart := time.Now()
	require.NoError(t, members["m2"].terminate(t), "m2's graceful close")
	t.Logf("m2 closed gracefully in %v", time.Since(termStart).Round(time.Millisecond))
	start("m5")

	require.NoError(t, <-published, "publishing the stream")
	published <- nil
	h.waitFor(t, timeout, total)
	t.Logf("at 100%%: handled per member %v", h.perMember())
	for _, name := range []string{"m3", "m4", "m5"} {
		require.NoError(t, members[name].terminate(t), "%s's graceful close", name)
	}

	r := h.report(killedAt)
	t.Logf("handled %d of %d: lost %d; duplicates: %d after the SIGKILL of m1, %d after the SIGTERM of m2, %d other; order violations %d; failover after SIGKILL %v",
		r.distinct, total, r.lost, r.dupAfterKill, r.dupAfterTerm, r.dupOther, r.orderViolations, r.failover.Round(time.Millisecond))
	assert.Zero(t, r.lost, "lost messages")
	assert.Zero(t, r.orderViolations, "per-key order violations of first handlings")
	assert.Zero(t, r.dupAfterTerm, "messages handled again after a graceful close")
	assert.Zero(t, r.dupOther, "duplicates with no crash to explain them")
}

// buildMember builds the member program once per test binary.
var buildOnce = sync.OnceValues(func() (string, error) { return buildProgram("member") })

func buildMember(t *testing.T) string {
	binary, err := buildOnce()
	require.NoError(t, err)
	return binary
}

// buildProgram builds the program in the directory name.
func buildProgram(name string) (string, error) {
	dir, err := os.MkdirTemp("", "eventbus-faults-")
	if err != nil {
		return "", err
	}
	binary := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", binary, "./"+name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./%s: %v\n%s", name, err, out)
	}
	return binary, nil
}

// ensureTopic makes sure topic exists before the members subscribe.
func ensureTopic(t *testing.T, url, topic string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, url)
	require.NoError(t, err)
	defer b.Close(context.Background())
	sub, err := b.Subscribe(ctx, topic, func(context.Context, *bus.Message) error { return nil })
	require.NoError(t, err)
	require.NoError(t, sub.Close(ctx))
}

// publishEvery paces the stream, so that the faults happen mid-stream.
const publishEvery = 100 * time.Millisecond

// publish sends perKey messages for each of keys keys, "key-<k>/<seq>",
// in order per key, one round of keys every publishEvery.
func publish(ctx context.Context, url, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, url)
	if err != nil {
		return err
	}
	defer b.Close(context.Background())
	tick := time.NewTicker(publishEvery)
	defer tick.Stop()
	for seq := range perKey {
		batch := make([]*bus.Message, keys)
		for k := range keys {
			batch[k] = &bus.Message{Key: fmt.Sprint("key-", k), Payload: fmt.Appendf(nil, "key-%d/%d", k, seq)}
		}
		if err := b.Publish(ctx, topic, batch...); err != nil {
			return fmt.Errorf("round %d: %w", seq, err)
		}
		<-tick.C
	}
	return nil
}

type member struct {
	name   string
	cmd    *exec.Cmd
	exited chan error
}

func startMember(t *testing.T, binary string, h *handlings, url, topic, group, name string) *member {
	cmd := exec.Command(binary, "-url", url, "-topic", topic, "-group", group, "-name", name)
	return startProcess(t, name, cmd, h.add)
}

// startProcess starts cmd and hands each line it prints on stdout to
// onLine; its stderr goes to the test log.
func startProcess(t *testing.T, name string, cmd *exec.Cmd, onLine func(string)) *member {
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = &prefixWriter{t: t, prefix: name + ": "}
	require.NoError(t, cmd.Start())
	m := &member{name: name, cmd: cmd, exited: make(chan error, 1)}
	read := make(chan struct{})
	go func() {
		defer close(read)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			onLine(scanner.Text())
		}
	}()
	go func() {
		<-read // Wait closes stdout: read it all first
		m.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-m.exited
	})
	return m
}

func (m *member) kill(t *testing.T) {
	require.NoError(t, m.cmd.Process.Signal(syscall.SIGKILL))
	<-m.exited
	m.exited <- nil // for Cleanup
}

// terminate sends SIGTERM and waits for the member's graceful close.
func (m *member) terminate(t *testing.T) error {
	require.NoError(t, m.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-m.exited:
		m.exited <- nil
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s did not exit within 30s of SIGTERM", m.name)
	}
}

type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		w.t.Log(w.prefix + strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

// handling is one successful handler run.
type handling struct {
	member  string
	key     string
	seq     int
	attempt int
	start   time.Time
}

type handlings struct {
	mu      sync.Mutex
	all     []handling
	byMsg   map[string][]handling // "key/seq" → its handlings in arrival order
	changed chan struct{}
}

func newHandlings() *handlings {
	return &handlings{byMsg: make(map[string][]handling), changed: make(chan struct{})}
}

func (h *handlings) add(line string) {
	var hd handling
	var payload string
	var nanos int64
	if _, err := fmt.Sscanf(line, "%s %s %d %d", &hd.member, &payload, &hd.attempt, &nanos); err != nil {
		return
	}
	key, seq, ok := strings.Cut(payload, "/")
	if !ok {
		return
	}
	hd.key = key
	hd.seq, _ = strconv.Atoi(seq)
	hd.start = time.Unix(0, nanos)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.all = append(h.all, hd)
	h.byMsg[payload] = append(h.byMsg[payload], hd)
	close(h.changed)
	h.changed = make(chan struct{})
}

// perMember counts handlings per member.
func (h *handlings) perMember() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	counts := map[string]int{}
	for _, hd := range h.all {
		counts[hd.member]++
	}
	return counts
}

// waitFor waits until n distinct messages were handled, and each of
// members handled some: they were given partitions.
func (h *handlings) waitFor(t *testing.T, timeout time.Duration, n int, members ...string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		distinct, changed := len(h.byMsg), h.changed
		h.mu.Unlock()
		counts := h.perMember()
		if distinct >= n && !slices.ContainsFunc(members, func(m string) bool { return counts[m] == 0 }) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			require.FailNowf(t, "timed out", "%d of %d messages handled after %v", distinct, n, timeout)
		}
	}
}

type report struct {
	distinct, lost                       int
	dupAfterKill, dupAfterTerm, dupOther int
	orderViolations                      int
	failover                             time.Duration
}

// report counts what the members printed. A duplicate is put down to the
// member that handled the message first: m1 was SIGKILLed, m2 SIGTERMed.
func (h *handlings) report(killedAt time.Time) report {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := report{distinct: len(h.byMsg), lost: total - len(h.byMsg)}
	first := map[string][]handling{} // key → first handlings
	for _, hs := range h.byMsg {
		earliest := hs[0]
		for _, hd := range hs[1:] {
			if hd.start.Before(earliest.start) {
				earliest = hd
			}
		}
		first[earliest.key] = append(first[earliest.key], earliest)
		if dups := len(hs) - 1; dups > 0 {
			switch earliest.member {
			case "m1":
				r.dupAfterKill += dups
			case "m2":
				r.dupAfterTerm += dups
			default:
				r.dupOther += dups
			}
		}
	}
	for _, hs := range first {
		sortByStart(hs)
		for i := 1; i < len(hs); i++ {
			if hs[i].seq < hs[i-1].seq {
				r.orderViolations++
			}
		}
		// Failover: how long a key that m1 was handling when it died
		// waited for its next first handling elsewhere.
		for i := 1; i < len(hs); i++ {
			if hs[i-1].member == "m1" && hs[i].member != "m1" && hs[i].start.After(killedAt) {
				r.failover = max(r.failover, hs[i].start.Sub(killedAt))
			}
		}
	}
	return r
}

func sortByStart(hs []handling) {
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && hs[j].start.Before(hs[j-1].start); j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}
