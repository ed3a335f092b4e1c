package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The scenarios. Each runs in a process of its own per contender (see
// cmd/bench-compare), so that CPU time, threads and memory are the
// contender's alone.
const (
	// PublishBatch publishes Config.Batch messages per awaited Publish
	// call, one call after another, for Config.Duration.
	PublishBatch = "publish-batch"
	// PublishConcurrent runs Config.Publishers goroutines, each publishing
	// one message per awaited call, for Config.Duration: a web service
	// publishing from its request handlers.
	PublishConcurrent = "publish-concurrent"
	// Latency publishes single messages at Config.Rate for Config.Duration,
	// each awaited in a goroutine of its own, while a subscriber consumes
	// the topic: publish → acknowledgement and publish → handler latency,
	// and the Go scheduler's latency meanwhile.
	Latency = "latency"
	// LatencyLow is Latency at Config.LowRate for Config.LowRateDuration:
	// a subscriber that waits between messages, as most services' do.
	LatencyLow = "latency-low"
	// Consume reads Config.ConsumeMessages prefilled messages with a new
	// group and a handler that does nothing.
	Consume = "consume"
	// PublishOne publishes one message per Publish call for
	// Config.Duration to a subscriber in the same process (memory):
	// from the first Publish until the subscriber has handled the last.
	PublishOne = "publish-1"
	// Subscriptions subscribes one group to Job.Topics, one subscription
	// per topic, each holding one message: the time until every
	// subscription has had its message, and the process's threads and
	// resident memory then.
	Subscriptions = "subscriptions"
)

// BackendScenarios lists the scenarios of a backend, in report order.
func BackendScenarios(backend string) []string {
	if backend == "memory" {
		return []string{PublishOne, Subscriptions}
	}
	return []string{PublishBatch, PublishConcurrent, Latency, LatencyLow, Consume, Subscriptions}
}

// libraryScenarios are the scenarios of the libraries eventbus is
// compared with on a broker: Subscriptions measures eventbus alone.
var libraryScenarios = []string{PublishBatch, PublishConcurrent, Latency, LatencyLow, Consume}

// Job is one scenario run by one contender.
type Job struct {
	Scenario  string `json:"scenario"`
	Contender string `json:"contender"`
	// Topic is the topic of every scenario but Subscriptions; for Consume
	// it holds the prefilled messages. On memory it is created in the run.
	Topic string `json:"topic,omitempty"`
	// Topics are the topics of Subscriptions, each holding one message
	// (on memory: named here, and filled in the run).
	Topics []string `json:"topics,omitempty"`
	// Group is the consumer group, new to the topics.
	Group  string `json:"group,omitempty"`
	Config Config `json:"config"`
}

// Result is what a Job measured.
type Result struct {
	Scenario  string `json:"scenario"`
	Contender string `json:"contender"`
	// Messages is how many messages the measured part published or
	// consumed.
	Messages int `json:"messages"`
	// Seconds is the measured time.
	Seconds float64 `json:"seconds"`
	// Rate is Messages / Seconds.
	Rate float64 `json:"rate"`
	// CPUPerMessage is the process's CPU time (user and system, all
	// threads) in the measured part, in µs per message.
	CPUPerMessage float64 `json:"cpu_us_per_msg"`
	// Publish is publish → acknowledgement latency (Latency).
	Publish *Percentiles `json:"publish,omitempty"`
	// Consume is publish → handler latency (Latency).
	Consume *Percentiles `json:"consume,omitempty"`
	// SchedP999 is the 99.9th percentile of the Go scheduler's latency in
	// the measured part, in ms (Latency).
	SchedP999 float64 `json:"sched_p999_ms,omitempty"`
	// Subscriptions, Threads, RSSBytes and JoinSeconds belong to the
	// Subscriptions scenario.
	Subscriptions int     `json:"subscriptions,omitempty"`
	Threads       int     `json:"threads,omitempty"`
	RSSBytes      int64   `json:"rss_bytes,omitempty"`
	JoinSeconds   float64 `json:"join_seconds,omitempty"`
}

// Run runs job in this process and returns what it measured.
func Run(ctx context.Context, job Job) (Result, error) {
	contender, err := FindContender(job.Contender)
	if err != nil {
		return Result{}, err
	}
	if !contender.Runs(job.Scenario) {
		return Result{}, fmt.Errorf("bench: %s does not run %s", contender.ID(), job.Scenario)
	}
	cfg := job.Config
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	client, err := contender.open(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("bench: open %s: %w", contender.ID(), err)
	}
	defer client.Close()
	r := &runner{cfg: cfg, client: client, payload: make([]byte, cfg.PayloadBytes), keys: keys(cfg.Keys)}
	result := Result{Scenario: job.Scenario, Contender: contender.ID()}
	switch job.Scenario {
	case PublishBatch:
		err = r.publishBatch(ctx, job.Topic, &result)
	case PublishConcurrent:
		err = r.publishConcurrent(ctx, job.Topic, &result)
	case Latency, LatencyLow:
		err = r.latency(ctx, job.Topic, job.Group, job.Scenario, &result)
	case Consume:
		err = r.consume(ctx, job.Topic, job.Group, &result)
	case PublishOne:
		err = r.publishOne(ctx, job.Topic, job.Group, &result)
	case Subscriptions:
		err = r.subscriptions(ctx, job.Topics, job.Group, contender.Backend == "memory", &result)
	default:
		err = fmt.Errorf("bench: unknown scenario %q", job.Scenario)
	}
	if err != nil {
		return Result{}, fmt.Errorf("bench: %s %s: %w", contender.ID(), job.Scenario, err)
	}
	return result, nil
}

type runner struct {
	cfg     Config
	client  Client
	payload []byte
	keys    []string // made once, so that no contender's figures include making them
}

// keys returns the n keys messages cycle through.
func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "key-" + strconv.Itoa(i)
	}
	return out
}

func (r *runner) key(i int) string { return r.keys[i%len(r.keys)] }

// measurement holds the process's CPU time and the time at its start.
type measurement struct {
	start time.Time
	cpu   time.Duration
}

func measure() measurement { return measurement{start: time.Now(), cpu: cpuTime()} }

// finish fills result's rate and CPU per message for n messages measured
// from m until now.
func (m measurement) finish(result *Result, n int) {
	elapsed := time.Since(m.start)
	cpu := cpuTime() - m.cpu
	result.Messages = n
	result.Seconds = elapsed.Seconds()
	if n > 0 {
		result.Rate = float64(n) / elapsed.Seconds()
		result.CPUPerMessage = float64(cpu.Microseconds()) / float64(n)
	}
}

func (r *runner) publishBatch(ctx context.Context, topic string, result *Result) error {
	msgs := make([]Message, r.cfg.Batch)
	if _, err := r.warmUp(ctx, topic, r.payload); err != nil {
		return err
	}
	m := measure()
	deadline := m.start.Add(r.cfg.Duration)
	sent := 0
	for time.Now().Before(deadline) {
		for i := range msgs {
			msgs[i] = Message{Key: r.key(sent + i), Payload: r.payload}
		}
		if err := r.client.Publish(ctx, topic, msgs); err != nil {
			return err
		}
		sent += len(msgs)
	}
	m.finish(result, sent)
	return nil
}

// warmUp publishes before anything is measured: one message until it
// succeeds, then rounds of one message per key. The client connects, learns
// the topic's partitions and leaders (on Pulsar, creates its producer) and
// has sent to every partition, so that what is measured is a client at
// work, not one starting on a new topic. A topic created a moment ago may
// have no leader yet, which some clients report as an error rather than
// wait: the first message is tried again until ctx ends. It returns how
// many messages it published.
//
// The rounds send every key more than warmUpKeyBytes, and one round more:
// a Kafka broker writes a partition's first offset-index entry on the
// first append after index.interval.bytes (4 KiB) of records, and on this
// machine's disk that append was seen to take 50 ms. A client that sends
// the keys of a round in one request per partition would otherwise meet
// that stall, once per partition, in its first measured messages, and a
// client that sends one message at a time during its warm-up would not.
func (r *runner) warmUp(ctx context.Context, topic string, payload []byte) (int, error) {
	for {
		err := r.client.Publish(ctx, topic, []Message{{Key: r.key(0), Payload: payload}})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("warm-up publish: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	every := make([]Message, len(r.keys))
	for i, key := range r.keys {
		every[i] = Message{Key: key, Payload: payload}
	}
	published := 1
	for range warmUpKeyBytes/max(1, len(payload)) + 2 {
		if err := r.client.Publish(ctx, topic, every); err != nil {
			return published, fmt.Errorf("warm-up publish to every key: %w", err)
		}
		published += len(every)
	}
	return published, nil
}

// warmUpKeyBytes is the payload the warm-up sends each key at least:
// Kafka's default index.interval.bytes.
const warmUpKeyBytes = 4 << 10

func (r *runner) publishConcurrent(ctx context.Context, topic string, result *Result) error {
	if _, err := r.warmUp(ctx, topic, r.payload); err != nil {
		return err
	}
	var sent atomic.Int64
	errs := make(chan error, r.cfg.Publishers)
	m := measure()
	deadline := m.start.Add(r.cfg.Duration)
	var wg sync.WaitGroup
	for range r.cfg.Publishers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := int(sent.Add(1))
				if err := r.client.Publish(ctx, topic, []Message{{Key: r.key(i), Payload: r.payload}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	m.finish(result, int(sent.Load()))
	close(errs)
	return <-errs
}

// stamped returns a payload carrying the time it was sent and its index
// (0 for a warm-up message), for the handler to take the latency.
func (r *runner) stamped(index int, at time.Time) []byte {
	p := make([]byte, max(16, r.cfg.PayloadBytes))
	binary.BigEndian.PutUint64(p, uint64(at.UnixNano()))
	binary.BigEndian.PutUint64(p[8:], uint64(index))
	return p
}

func (r *runner) latency(ctx context.Context, topic, group, scenario string, result *Result) error {
	rate, _ := r.cfg.latencyPace(scenario)
	total := r.cfg.LatencyMessages(scenario)
	if total < 1 {
		return errors.New("duration × rate is less than one message")
	}
	var (
		mu       sync.Mutex
		consumed = make([]time.Duration, total)
		received int
	)
	all := make(chan struct{})
	var warmedUp atomic.Int64
	warmUpHandled := make(chan struct{}, 1)
	stop, err := r.client.Subscribe(ctx, topic, group, func(p []byte) {
		now := time.Now()
		if len(p) < 16 {
			return
		}
		index := int(binary.BigEndian.Uint64(p[8:]))
		if index == 0 {
			warmedUp.Add(1)
			select {
			case warmUpHandled <- struct{}{}:
			default:
			}
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if index > total || consumed[index-1] != 0 { // a redelivery
			return
		}
		consumed[index-1] = max(1, now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(p)))))
		if received++; received == total {
			close(all)
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	// The subscriber is at work once it has handled every warm-up
	// message: it has joined, and fetches every partition. Having handled
	// one was not enough: partitions that started later held the first
	// measured messages of their keys for up to 400 ms.
	warmUps, err := r.warmUp(ctx, topic, r.stamped(0, time.Now()))
	if err != nil {
		return err
	}
	for warmedUp.Load() < int64(warmUps) {
		select {
		case <-warmUpHandled:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d warm-up messages handled: %w", warmedUp.Load(), warmUps, ctx.Err())
		}
	}

	published := make([]time.Duration, total)
	errs := make(chan error, total)
	sched := schedLatencies()
	m := measure()
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	for i := range total {
		time.Sleep(time.Until(m.start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			sent := time.Now()
			if err := r.client.Publish(ctx, topic, []Message{{Key: r.key(i), Payload: r.stamped(i+1, sent)}}); err != nil {
				errs <- err
				return
			}
			published[i] = max(1, time.Since(sent))
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("%d of %d messages consumed: %w", received, total, ctx.Err())
	}
	m.finish(result, total)
	result.SchedP999 = ms(histogramQuantile(sched, schedLatencies(), 0.999))
	result.Publish = latencyOf(published)
	result.Consume = latencyOf(consumed)
	return nil
}

// latencyPace is the rate and length of a latency scenario.
func (cfg Config) latencyPace(scenario string) (rate int, duration time.Duration) {
	if scenario == LatencyLow {
		return cfg.LowRate, cfg.LowRateDuration
	}
	return cfg.Rate, cfg.Duration
}

// LatencyMessages is how many messages a latency scenario (Latency or
// LatencyLow) publishes.
func (cfg Config) LatencyMessages(scenario string) int {
	rate, duration := cfg.latencyPace(scenario)
	return int(duration.Seconds() * float64(rate))
}

// consumeCount subscribes to topic with a handler that counts, and returns
// when n messages were handled, with the time of the first.
func (r *runner) consumeCount(ctx context.Context, topic, group string, n int) (first time.Time, stop func() error, err error) {
	var count atomic.Int64
	var firstOnce sync.Once
	done := make(chan struct{})
	stop, err = r.client.Subscribe(ctx, topic, group, func([]byte) {
		firstOnce.Do(func() { first = time.Now() })
		if count.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return time.Time{}, nil, err
	}
	select {
	case <-done:
		return first, stop, nil
	case <-ctx.Done():
		stop()
		return time.Time{}, nil, fmt.Errorf("%d of %d messages consumed: %w", count.Load(), n, ctx.Err())
	}
}

func (r *runner) consume(ctx context.Context, topic, group string, result *Result) error {
	n := r.cfg.ConsumeMessages
	m := measure()
	first, stop, err := r.consumeCount(ctx, topic, group, n)
	if err != nil {
		return err
	}
	defer stop()
	// The rate runs from the first message, leaving out the group's join;
	// the CPU time includes it.
	cpu := cpuTime() - m.cpu
	elapsed := time.Since(first)
	result.Messages, result.Seconds = n, elapsed.Seconds()
	result.Rate = float64(n) / elapsed.Seconds()
	result.CPUPerMessage = float64(cpu.Microseconds()) / float64(n)
	return nil
}

func (r *runner) publishOne(ctx context.Context, topic, group string, result *Result) error {
	var handled, target atomic.Int64
	target.Store(-1)
	done := make(chan struct{})
	closeDone := sync.OnceFunc(func() { close(done) })
	stop, err := r.client.Subscribe(ctx, topic, group, func([]byte) {
		if handled.Add(1) == target.Load() {
			closeDone()
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	m := measure()
	deadline := m.start.Add(r.cfg.Duration)
	sent := 0
	one := make([]Message, 1) // reused: making it is no contender's cost
	for ; sent%1024 != 0 || time.Now().Before(deadline); sent++ {
		one[0] = Message{Key: r.key(sent), Payload: r.payload}
		if err := r.client.Publish(ctx, topic, one); err != nil {
			return err
		}
	}
	// The handler closes done when it reaches the target; or it got there
	// before the target was set.
	target.Store(int64(sent))
	if handled.Load() >= int64(sent) {
		closeDone()
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("%d of %d messages handled: %w", handled.Load(), sent, ctx.Err())
	}
	m.finish(result, sent)
	return nil
}

func (r *runner) subscriptions(ctx context.Context, topics []string, group string, fill bool, result *Result) error {
	if len(topics) == 0 {
		return errors.New("no topics")
	}
	if fill { // memory: the topics live in this process
		for _, topic := range topics {
			if err := r.client.Publish(ctx, topic, []Message{{Key: r.key(0), Payload: r.payload}}); err != nil {
				return err
			}
		}
	}
	var waiting sync.WaitGroup
	waiting.Add(len(topics))
	joined := make(chan struct{})
	var stops []func() error
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	start := time.Now()
	for _, topic := range topics {
		var once sync.Once
		stop, err := r.client.Subscribe(ctx, topic, group, func([]byte) { once.Do(waiting.Done) })
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	go func() { waiting.Wait(); close(joined) }()
	select {
	case <-joined:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the first message of %d subscriptions: %w", len(topics), ctx.Err())
	}
	result.JoinSeconds = time.Since(start).Seconds()
	result.Subscriptions = len(topics)
	result.Threads, result.RSSBytes = procStatus()
	return nil
}
