package bench

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Outcome is one Job's run: its Result, or the error that ended it.
type Outcome struct {
	// Job is the job without its Topics (Subscriptions counts them).
	Job           Job     `json:"job"`
	Subscriptions int     `json:"subscriptions,omitempty"`
	Run           int     `json:"run"`
	Result        *Result `json:"result,omitempty"`
	Error         string  `json:"error,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Brokers string `json:"brokers"`
	// Load is the range of the 1-minute load average seen while measuring.
	Load string `json:"load,omitempty"`
	Note string `json:"note,omitempty"`
}

// row gathers the outcomes of one contender in one scenario (and, for
// Subscriptions, one number of subscriptions) over the runs.
type row struct {
	contender Contender
	results   []Result
	errors    []string
}

func (r *row) median(value func(Result) float64) float64 {
	if len(r.results) == 0 {
		return 0
	}
	values := make([]float64, len(r.results))
	for i, res := range r.results {
		values[i] = value(res)
	}
	slices.Sort(values)
	if n := len(values); n%2 == 0 {
		return (values[n/2-1] + values[n/2]) / 2
	}
	return values[len(values)/2]
}

func (r *row) spread(value func(Result) float64) string {
	if len(r.results) < 2 {
		return ""
	}
	lo, hi := value(r.results[0]), value(r.results[0])
	for _, res := range r.results[1:] {
		lo, hi = min(lo, value(res)), max(hi, value(res))
	}
	return fmt.Sprintf("%s–%s", count(lo), count(hi))
}

// runs says how many runs the row's figures come from, and why any failed.
func (r *row) runs() string {
	s := fmt.Sprint(len(r.results))
	if len(r.errors) > 0 {
		s += fmt.Sprintf(" (%d failed: %s)", len(r.errors), oneLine(r.errors[0]))
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return strings.ReplaceAll(s, "|", "/")
}

type rowKey struct {
	scenario      string
	subscriptions int
	contender     string
}

// WriteMarkdown writes the medians of outcomes as Markdown tables, per
// backend, with the machine, the configuration, and what is not equal
// between contenders.
func WriteMarkdown(w io.Writer, command string, m Machine, cfg Config, runs int, outcomes []Outcome) error {
	rows := map[rowKey]*row{}
	for _, o := range outcomes {
		c, err := FindContender(o.Job.Contender)
		if err != nil {
			return err
		}
		k := rowKey{o.Job.Scenario, o.Subscriptions, c.ID()}
		r := rows[k]
		if r == nil {
			r = &row{contender: c}
			rows[k] = r
		}
		if o.Result != nil {
			r.results = append(r.results, *o.Result)
		} else {
			r.errors = append(r.errors, o.Error)
		}
	}
	p := &printer{w: w}
	p.f("# eventbus against the alternatives\n\n")
	p.f("Produced by `make bench-compare` (`%s`): each figure is the median of %d runs; every contender runs each scenario in a process of its own, one after another against the same brokers.\n\n", command, runs)
	p.f("- Machine: %s, %d cores, %s, %s\n", m.CPU, m.Cores, m.OS, m.Go)
	if m.Brokers != "" {
		p.f("- Brokers: %s, on the same machine\n", m.Brokers)
	}
	if m.Load != "" {
		p.f("- Load average (1 minute) while measuring: %s\n", m.Load)
	}
	if m.Note != "" {
		p.f("- %s\n", m.Note)
	}
	p.f("- Payload %d bytes, %d keys, topics of %d partitions (subscription topics: 1); publish scenarios run %s each; batches of %d; %d concurrent publishers; latency at %d msg/s for %s and at %d msg/s for %s; consume reads %d prefilled messages with a new group\n",
		cfg.PayloadBytes, cfg.Keys, cfg.Partitions, cfg.Duration, cfg.Batch, cfg.Publishers, cfg.Rate, cfg.Duration, cfg.LowRate, cfg.LowRateDuration, cfg.ConsumeMessages)
	p.f("- msg/s of consume runs from the first message to the last; CPU is the contender process's user + system time (getrusage) over the measured part, all threads; broker CPU is not counted\n")
	p.f("- ratio: eventbus's figure divided by the contender's (msg/s: above 1 means eventbus is faster; latency: below 1 means eventbus is faster)\n")

	for _, backend := range []string{"kafka", "pulsar", "memory"} {
		var contenders []Contender
		for _, c := range Contenders() {
			if c.Backend == backend {
				contenders = append(contenders, c)
			}
		}
		if !slices.ContainsFunc(outcomes, func(o Outcome) bool { return strings.HasPrefix(o.Job.Contender, backend+"/") }) {
			continue
		}
		p.f("\n## %s\n", backendTitle(backend))
		p.throughput(rows, backend, contenders)
		p.latency(rows, backend, contenders, Latency, fmt.Sprintf("%d msg/s", cfg.Rate))
		p.latency(rows, backend, contenders, LatencyLow, fmt.Sprintf("%d msg/s, where the subscriber waits between messages", cfg.LowRate))
		p.subscriptions(rows, backend)
		p.f("\nWhat is not equal between the contenders:\n\n")
		for _, c := range contenders {
			p.f("- **%s**: %s\n", c.Name, c.Settings)
		}
	}
	return p.err
}

func backendTitle(backend string) string {
	switch backend {
	case "kafka":
		return "Kafka"
	case "pulsar":
		return "Pulsar"
	}
	return "Memory"
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func scenarioTitle(s string) string {
	switch s {
	case PublishBatch:
		return "publish, batches"
	case PublishConcurrent:
		return "publish, concurrent single messages"
	case Consume:
		return "consume, no-op handler"
	case PublishOne:
		return "publish → handler, 1 message per Publish"
	}
	return s
}

func (p *printer) throughput(rows map[rowKey]*row, backend string, contenders []Contender) {
	header := false
	for _, scenario := range []string{PublishBatch, PublishConcurrent, Consume, PublishOne} {
		bus := rows[rowKey{scenario, 0, backend + "/eventbus"}]
		for _, c := range contenders {
			r := rows[rowKey{scenario, 0, c.ID()}]
			if r == nil {
				continue
			}
			if !header {
				p.f("\n| scenario | contender | msg/s | runs' range | CPU µs/msg | eventbus ÷ this (msg/s) | runs |\n|---|---|---:|---|---:|---:|---|\n")
				header = true
			}
			rate := r.median(func(r Result) float64 { return r.Rate })
			ratio := "—"
			if bus != nil && len(bus.results) > 0 && rate > 0 {
				ratio = fmt.Sprintf("%.2f", bus.median(func(r Result) float64 { return r.Rate })/rate)
			}
			p.f("| %s | %s | %s | %s | %.1f | %s | %s |\n", scenarioTitle(scenario), c.Name, count(rate),
				r.spread(func(r Result) float64 { return r.Rate }),
				r.median(func(r Result) float64 { return r.CPUPerMessage }), ratio, r.runs())
		}
	}
}

// latency prints the table of a latency scenario run at the given rate.
func (p *printer) latency(rows map[rowKey]*row, backend string, contenders []Contender, scenario, rate string) {
	bus := rows[rowKey{scenario, 0, backend + "/eventbus"}]
	header := false
	for _, c := range contenders {
		r := rows[rowKey{scenario, 0, c.ID()}]
		if r == nil {
			continue
		}
		if !header {
			p.f("\nLatency of single awaited publishes at %s, ms: publish → acknowledgement (ack), publish → handler (handler); Go scheduler latency p99.9 in the contender's process meanwhile (the upper bound of the runtime histogram's bucket, /sched/latencies:seconds).\n\n", rate)
			p.f("| contender | ack p50 | ack p99 | ack max | handler p50 | handler p99 | handler max | sched p99.9 | eventbus ÷ this (ack p99) | runs |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
			header = true
		}
		pub := func(get func(*Percentiles) float64) func(Result) float64 {
			return func(r Result) float64 { return getOrZero(r.Publish, get) }
		}
		con := func(get func(*Percentiles) float64) func(Result) float64 {
			return func(r Result) float64 { return getOrZero(r.Consume, get) }
		}
		p50 := func(l *Percentiles) float64 { return l.P50 }
		p99 := func(l *Percentiles) float64 { return l.P99 }
		maximum := func(l *Percentiles) float64 { return l.Max }
		ratio := "—"
		if own := r.median(pub(p99)); bus != nil && len(bus.results) > 0 && own > 0 {
			ratio = fmt.Sprintf("%.2f", bus.median(pub(p99))/own)
		}
		p.f("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Name,
			millis(r.median(pub(p50))), millis(r.median(pub(p99))), millis(r.median(pub(maximum))),
			millis(r.median(con(p50))), millis(r.median(con(p99))), millis(r.median(con(maximum))),
			millis(r.median(func(r Result) float64 { return r.SchedP999 })), ratio, r.runs())
	}
}

func getOrZero(l *Percentiles, get func(*Percentiles) float64) float64 {
	if l == nil {
		return 0
	}
	return get(l)
}

func (p *printer) subscriptions(rows map[rowKey]*row, backend string) {
	var keys []rowKey
	for k := range rows {
		if k.scenario == Subscriptions && strings.HasPrefix(k.contender, backend+"/") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	slices.SortFunc(keys, func(a, b rowKey) int {
		return cmp.Or(cmp.Compare(a.contender, b.contender), cmp.Compare(a.subscriptions, b.subscriptions))
	})
	p.f("\nSubscriptions in one process (one group, one topic each, one message per topic): OS threads and resident memory once every subscription has had its message, and the time from the first Subscribe until then.\n\n")
	p.f("| contender | subscriptions | OS threads | RSS MB | join s | runs |\n|---|---:|---:|---:|---:|---|\n")
	for _, k := range keys {
		r := rows[k]
		p.f("| %s | %d | %.0f | %.1f | %.2f | %s |\n", r.contender.Name, k.subscriptions,
			r.median(func(r Result) float64 { return float64(r.Threads) }),
			r.median(func(r Result) float64 { return float64(r.RSSBytes) / 1e6 }),
			r.median(func(r Result) float64 { return r.JoinSeconds }), r.runs())
	}
}

// count formats a rate with thousands separators.
func count(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func millis(v float64) string {
	switch {
	case v == 0:
		return "—"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 100:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
