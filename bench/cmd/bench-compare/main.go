// Command bench-compare measures eventbus beside the libraries its users
// would pick instead — raw confluent-kafka-go, franz-go and Watermill on
// Kafka, raw pulsar-client-go on Pulsar, Watermill's GoChannel in memory —
// and writes the medians of several runs as Markdown tables.
//
// Every contender runs every scenario in a process of its own (this
// command, started again with -child), so that the CPU time, threads and
// memory it reports are the contender's alone. The brokers are those of
// the EVENTBUS_TEST_* variables that scripts/brokers.sh env prints; a
// backend without them is left out. `make bench-compare` starts the
// brokers and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventbus-go/eventbus/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-compare:", err)
		os.Exit(1)
	}
}

type options struct {
	runs          int
	subsRuns      int
	backends      []string
	contenders    []string
	scenarios     []string
	subscriptions []int
	out           string
	brokers       string
	note          string
	cfg           bench.Config
	load          *loadRange
}

func run() error {
	cfg := bench.DefaultConfig()
	var (
		o                                                    options
		child                                                bool
		backends, contenders, scenarios, subscriptions, logs string
	)
	flag.BoolVar(&child, "child", false, "run the Job read from standard input and print its Result (used by this command itself)")
	flag.IntVar(&o.runs, "runs", envInt("BENCH_RUNS", 3), "runs of every scenario; the tables show medians (env BENCH_RUNS)")
	flag.IntVar(&o.subsRuns, "subscription-runs", envInt("BENCH_SUBSCRIPTION_RUNS", 1), "runs of the subscriptions scenario, which on Kafka with hundreds of subscriptions takes minutes (env BENCH_SUBSCRIPTION_RUNS)")
	flag.DurationVar(&cfg.Duration, "duration", envDuration("BENCH_DURATION", cfg.Duration), "how long each publish and latency scenario runs (env BENCH_DURATION)")
	flag.IntVar(&cfg.Rate, "rate", cfg.Rate, "messages per second of the latency scenario")
	flag.IntVar(&cfg.LowRate, "low-rate", cfg.LowRate, "messages per second of the low-rate latency scenario")
	flag.DurationVar(&cfg.LowRateDuration, "low-rate-duration", cfg.LowRateDuration, "how long the low-rate latency scenario runs")
	flag.IntVar(&cfg.ConsumeMessages, "consume", envInt("BENCH_CONSUME", cfg.ConsumeMessages), "prefilled messages the consume scenario reads (env BENCH_CONSUME)")
	flag.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "goroutines of the concurrent publish scenario")
	flag.IntVar(&cfg.Batch, "batch", cfg.Batch, "messages per Publish call of the batch scenario")
	flag.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of the benchmark topics")
	flag.IntVar(&cfg.PayloadBytes, "payload", cfg.PayloadBytes, "payload bytes")
	flag.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "longest a scenario may run before it counts as failed")
	flag.StringVar(&backends, "backends", envString("BENCH_BACKENDS", "kafka,pulsar,memory"), "backends to measure (env BENCH_BACKENDS)")
	flag.StringVar(&contenders, "contenders", "", "measure only these contenders (backend/name, comma-separated)")
	flag.StringVar(&scenarios, "scenarios", "", "measure only these scenarios (comma-separated)")
	flag.StringVar(&subscriptions, "subscriptions", envString("BENCH_SUBSCRIPTIONS", "1,50,500"), "subscription counts of the subscriptions scenario (env BENCH_SUBSCRIPTIONS)")
	flag.StringVar(&o.out, "out", "results/latest.md", "the Markdown file to write; the per-run results go beside it as .json")
	flag.StringVar(&o.brokers, "broker-versions", "", "the brokers' versions, for the report")
	flag.StringVar(&o.note, "note", os.Getenv("BENCH_NOTE"), "a line about the machine's state for the report, e.g. that it was shared (env BENCH_NOTE)")
	flag.StringVar(&logs, "log", "", "file for the contender processes' standard error (default: beside -out, as .log)")
	flag.Parse()
	if child {
		return runChild()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	o.cfg = cfg
	o.load = newLoadRange()
	o.backends = split(backends)
	o.contenders = split(contenders)
	o.scenarios = split(scenarios)
	for _, b := range o.backends {
		if !slices.Contains([]string{"kafka", "pulsar", "memory"}, b) {
			return fmt.Errorf("-backends: unknown backend %q (kafka, pulsar, memory)", b)
		}
	}
	for _, c := range o.contenders {
		if _, err := bench.FindContender(c); err != nil {
			return fmt.Errorf("-contenders: %w", err)
		}
	}
	for _, s := range o.scenarios {
		if !slices.Contains(append(bench.BackendScenarios("kafka"), bench.BackendScenarios("memory")...), s) {
			return fmt.Errorf("-scenarios: unknown scenario %q", s)
		}
	}
	for _, s := range split(subscriptions) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("-subscriptions: %q is not a positive number", s)
		}
		o.subscriptions = append(o.subscriptions, n)
	}
	if o.runs < 1 || o.subsRuns < 0 {
		return fmt.Errorf("-runs %d, -subscription-runs %d: not a positive number", o.runs, o.subsRuns)
	}
	if logs == "" {
		logs = strings.TrimSuffix(o.out, filepath.Ext(o.out)) + ".log"
	}
	return compare(context.Background(), o, logs)
}

// runChild runs one Job in this process.
func runChild() error {
	var job bench.Job
	if err := json.NewDecoder(os.Stdin).Decode(&job); err != nil {
		return fmt.Errorf("reading the job: %w", err)
	}
	result, err := bench.Run(context.Background(), job)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result)
}

func compare(ctx context.Context, o options, logPath string) error {
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	stamp := time.Now().Format("20060102-150405")
	var outcomes []bench.Outcome
	started := time.Now()
	for _, backend := range o.backends {
		if !o.cfg.HasBackend(backend) {
			slog.Warn("skipping a backend without its EVENTBUS_TEST_* variables (eval \"$(scripts/brokers.sh env)\")", "backend", backend)
			continue
		}
		out, err := compareBackend(ctx, o, backend, stamp, logFile)
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		outcomes = append(outcomes, out...)
	}
	slog.Info("done", "took", time.Since(started).Round(time.Second))
	return writeReport(o, outcomes)
}

// compareBackend sets the backend's topics up and runs every job on it,
// each run in reversed contender order from the one before.
func compareBackend(ctx context.Context, o options, backend, stamp string, logFile *os.File) ([]bench.Outcome, error) {
	var contenders []bench.Contender
	for _, c := range bench.Contenders() {
		if c.Backend == backend && (len(o.contenders) == 0 || slices.Contains(o.contenders, c.ID())) {
			contenders = append(contenders, c)
		}
	}
	var scenarios []string
	for _, s := range bench.BackendScenarios(backend) {
		if len(o.scenarios) == 0 || slices.Contains(o.scenarios, s) {
			scenarios = append(scenarios, s)
		}
	}
	prefix := fmt.Sprintf("bench-%s-%s", stamp, backend)

	// Topics that every run shares: consume groups are new each time, so
	// the prefilled messages and the subscription topics serve all runs.
	consumeTopic := prefix + "-consume"
	subscriptionTopics := map[int][]string{}
	for _, n := range o.subscriptions {
		for i := range n {
			subscriptionTopics[n] = append(subscriptionTopics[n], fmt.Sprintf("%s-subs%d-%d", prefix, n, i))
		}
	}
	if backend != "memory" {
		setup, err := bench.OpenSetup(ctx, o.cfg, backend)
		if err != nil {
			return nil, err
		}
		slog.Info("setting up", "backend", backend)
		if slices.Contains(scenarios, bench.Consume) {
			if err := setup.CreateTopics(ctx, []string{consumeTopic}, o.cfg.Partitions); err != nil {
				return nil, err
			}
			if err := setup.Fill(ctx, consumeTopic, o.cfg.ConsumeMessages); err != nil {
				return nil, err
			}
		}
		if slices.Contains(scenarios, bench.Subscriptions) {
			for _, topics := range subscriptionTopics {
				if err := setup.CreateTopics(ctx, topics, 1); err != nil {
					return nil, err
				}
				if err := setup.FillEach(ctx, topics); err != nil {
					return nil, err
				}
			}
		}
		if err := setup.Close(ctx); err != nil {
			return nil, err
		}
	}

	var outcomes []bench.Outcome
	for run := 1; run <= max(o.runs, o.subsRuns); run++ {
		var jobs []bench.Job
		order := slices.Clone(contenders)
		if run%2 == 0 {
			slices.Reverse(order)
		}
		for _, scenario := range scenarios {
			for _, c := range order {
				if !c.Runs(scenario) || (scenario == bench.Subscriptions && run > o.subsRuns) ||
					(scenario != bench.Subscriptions && run > o.runs) {
					continue
				}
				job := bench.Job{Scenario: scenario, Contender: c.ID(), Config: o.cfg,
					Group: fmt.Sprintf("%s-%s-%s-%d", prefix, c.Name, scenario, run)}
				switch scenario {
				case bench.Consume:
					job.Topic = consumeTopic
				case bench.Subscriptions:
					for _, n := range o.subscriptions {
						job.Topics = subscriptionTopics[n]
						job.Group = fmt.Sprintf("%s-subs%d-%d", prefix, n, run)
						jobs = append(jobs, job)
					}
					continue
				default:
					job.Topic = fmt.Sprintf("%s-%s-%s-%d", prefix, scenario, c.Name, run)
				}
				jobs = append(jobs, job)
			}
		}
		if backend != "memory" {
			var fresh []string
			for _, job := range jobs {
				if job.Scenario != bench.Consume && job.Scenario != bench.Subscriptions {
					fresh = append(fresh, job.Topic)
				}
			}
			if err := createTopics(ctx, o.cfg, backend, fresh); err != nil {
				return nil, err
			}
		}
		for _, job := range jobs {
			// The brokers' writes of earlier jobs go to disk now rather
			// than in the kernel's writeback 30 s later, which stalled
			// the broker's appends during whichever job ran then.
			syscall.Sync()
			outcome := runJob(ctx, job, run, logFile)
			o.load.sample()
			outcomes = append(outcomes, outcome)
			logOutcome(outcome)
		}
	}
	return outcomes, nil
}

func createTopics(ctx context.Context, cfg bench.Config, backend string, topics []string) error {
	setup, err := bench.OpenSetup(ctx, cfg, backend)
	if err != nil {
		return err
	}
	return errors.Join(setup.CreateTopics(ctx, topics, cfg.Partitions), setup.Close(ctx))
}

// runJob runs job in a new process of this command.
func runJob(ctx context.Context, job bench.Job, run int, logFile *os.File) bench.Outcome {
	outcome := bench.Outcome{Job: job, Subscriptions: len(job.Topics), Run: run}
	outcome.Job.Topics = nil
	self, err := os.Executable()
	if err != nil {
		outcome.Error = err.Error()
		return outcome
	}
	input, err := json.Marshal(job)
	if err != nil {
		outcome.Error = err.Error()
		return outcome
	}
	ctx, cancel := context.WithTimeout(ctx, job.Config.Timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-child")
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	fmt.Fprintf(logFile, "== run %d %s %s (%d topics)\n%s", run, job.Contender, job.Scenario, len(job.Topics), stderr.Bytes())
	if err != nil {
		outcome.Error = fmt.Sprintf("%v: %s", err, lastLine(stderr.Bytes()))
		return outcome
	}
	var result bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &result); err != nil {
		outcome.Error = fmt.Sprintf("reading the result: %v", err)
		return outcome
	}
	outcome.Result = &result
	return outcome
}

func lastLine(b []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	return last
}

func logOutcome(o bench.Outcome) {
	attrs := []any{"run", o.Run, "contender", o.Job.Contender, "scenario", o.Job.Scenario}
	if o.Subscriptions > 0 {
		attrs = append(attrs, "subscriptions", o.Subscriptions)
	}
	switch r := o.Result; {
	case r == nil:
		slog.Error("failed", append(attrs, "error", o.Error)...)
	case r.Subscriptions > 0:
		slog.Info("measured", append(attrs, "threads", r.Threads, "rss_mb", r.RSSBytes>>20, "join_s", round(r.JoinSeconds))...)
	case r.Publish != nil:
		slog.Info("measured", append(attrs, "ack_p99_ms", round(r.Publish.P99), "handler_p99_ms", round(r.Consume.P99), "sched_p999_ms", round(r.SchedP999))...)
	default:
		slog.Info("measured", append(attrs, "msg_per_s", int(r.Rate), "cpu_us_per_msg", round(r.CPUPerMessage))...)
	}
}

func round(v float64) float64 { return float64(int(v*1000)) / 1000 }

func writeReport(o options, outcomes []bench.Outcome) error {
	var md bytes.Buffer
	command := "bench-compare"
	for _, arg := range os.Args[1:] {
		if strings.ContainsAny(arg, " '\"") {
			arg = "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
		}
		command += " " + arg
	}
	if err := bench.WriteMarkdown(&md, command, machine(o), o.cfg, o.runs, outcomes); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, md.Bytes(), 0o644); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(outcomes, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := strings.TrimSuffix(o.out, filepath.Ext(o.out)) + ".json"
	if err := os.WriteFile(jsonPath, raw, 0o644); err != nil {
		return err
	}
	slog.Info("wrote", "tables", o.out, "runs", jsonPath)
	return nil
}

func machine(o options) bench.Machine {
	m := bench.Machine{CPU: "unknown CPU", Cores: runtime.NumCPU(), Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Brokers: o.brokers, Note: o.note, Load: o.load.String()}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(info)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPU = strings.TrimSpace(value)
				break
			}
		}
	}
	if release, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", Linux " + strings.TrimSpace(string(release))
	}
	return m
}

func split(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func envString(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envInt(name string, fallback int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return fallback
}

func envDuration(name string, fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return fallback
}

// loadRange is the range of the 1-minute load average, sampled after each
// job: on a shared machine it tells how far to trust the figures.
type loadRange struct{ low, high float64 }

func newLoadRange() *loadRange { return &loadRange{low: math.Inf(1), high: math.Inf(-1)} }

func (l *loadRange) sample() {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return
	}
	if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
		l.low, l.high = min(l.low, v), max(l.high, v)
	}
}

func (l *loadRange) String() string {
	if l.low > l.high {
		return ""
	}
	return fmt.Sprintf("%.1f to %.1f on %d cores", l.low, l.high, runtime.NumCPU())
}
