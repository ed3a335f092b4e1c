package bench_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bench"
)

// TestScenarios runs every scenario of every contender for a moment, in
// this process, to show that the harness measures what it says: on
// memory always, on Kafka and Pulsar when EVENTBUS_TEST_KAFKA and
// EVENTBUS_TEST_PULSAR(_ADMIN) name brokers. It asserts no speed.
func TestScenarios(t *testing.T) {
	cfg := bench.DefaultConfig()
	cfg.Duration = 200 * time.Millisecond
	cfg.Rate = 200
	cfg.LowRate, cfg.LowRateDuration = 20, 500*time.Millisecond
	cfg.ConsumeMessages = 500
	cfg.Batch = 50
	cfg.Publishers = 4
	cfg.Timeout = 2 * time.Minute
	stamp := time.Now().UnixNano()
	for _, backend := range []string{"memory", "kafka", "pulsar"} {
		t.Run(backend, func(t *testing.T) {
			if !cfg.HasBackend(backend) {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s: the EVENTBUS_TEST_* variables are not set under CI", backend)
				}
				t.Skipf("%s: no broker (eval \"$(scripts/brokers.sh env)\")", backend)
			}
			t.Parallel()
			prefix := fmt.Sprintf("bench-test-%d-%s", stamp, backend)
			consumeTopic, subscriptionTopics := prefix+"-consume", []string{prefix + "-subs-0", prefix + "-subs-1"}
			if backend != "memory" {
				setUp(t, cfg, backend, consumeTopic, subscriptionTopics)
			}
			for _, c := range bench.Contenders() {
				if c.Backend != backend {
					continue
				}
				for _, scenario := range bench.BackendScenarios(backend) {
					if !c.Runs(scenario) {
						continue
					}
					t.Run(c.Name+"/"+scenario, func(t *testing.T) {
						job := bench.Job{Scenario: scenario, Contender: c.ID(), Config: cfg,
							Topic: fmt.Sprintf("%s-%s-%s", prefix, c.Name, scenario), Group: fmt.Sprintf("%s-%s-%s", prefix, c.Name, scenario)}
						switch scenario {
						case bench.Consume:
							job.Topic = consumeTopic
						case bench.Subscriptions:
							job.Topics = subscriptionTopics
						default:
							if backend != "memory" {
								createTopic(t, cfg, backend, job.Topic)
							}
						}
						result, err := bench.Run(context.Background(), job)
						require.NoError(t, err)
						checkResult(t, cfg, job, result)
					})
				}
			}
		})
	}
}

func checkResult(t *testing.T, cfg bench.Config, job bench.Job, r bench.Result) {
	t.Helper()
	assert.Equal(t, job.Scenario, r.Scenario)
	assert.Equal(t, job.Contender, r.Contender)
	switch job.Scenario {
	case bench.Subscriptions:
		assert.Equal(t, len(job.Topics), r.Subscriptions)
		assert.Positive(t, r.Threads)
		assert.Positive(t, r.RSSBytes)
		assert.Positive(t, r.JoinSeconds)
		return
	case bench.Consume:
		assert.Equal(t, cfg.ConsumeMessages, r.Messages)
	case bench.Latency, bench.LatencyLow:
		total := cfg.LatencyMessages(job.Scenario)
		assert.Equal(t, total, r.Messages)
		for _, l := range []*bench.Percentiles{r.Publish, r.Consume} {
			require.NotNil(t, l)
			assert.Equal(t, total, l.Count)
			assert.Positive(t, l.P50)
			assert.LessOrEqual(t, l.P50, l.P99)
			assert.LessOrEqual(t, l.P99, l.Max)
		}
	case bench.PublishBatch:
		assert.Zero(t, r.Messages%cfg.Batch, "whole batches")
	}
	assert.Positive(t, r.Messages)
	assert.Positive(t, r.Rate)
	assert.InDelta(t, float64(r.Messages)/r.Seconds, r.Rate, 1e-6*r.Rate)
	assert.GreaterOrEqual(t, r.CPUPerMessage, 0.0)
}

// setUp creates and fills the topics the consume and subscriptions
// scenarios read, as bench-compare does.
func setUp(t *testing.T, cfg bench.Config, backend, consumeTopic string, subscriptionTopics []string) {
	t.Helper()
	ctx := context.Background()
	setup, err := bench.OpenSetup(ctx, cfg, backend)
	require.NoError(t, err)
	defer func() { require.NoError(t, setup.Close(ctx)) }()
	require.NoError(t, setup.CreateTopics(ctx, []string{consumeTopic}, cfg.Partitions))
	require.NoError(t, setup.Fill(ctx, consumeTopic, cfg.ConsumeMessages))
	require.NoError(t, setup.CreateTopics(ctx, subscriptionTopics, 1))
	require.NoError(t, setup.FillEach(ctx, subscriptionTopics))
}

func createTopic(t *testing.T, cfg bench.Config, backend, topic string) {
	t.Helper()
	ctx := context.Background()
	setup, err := bench.OpenSetup(ctx, cfg, backend)
	require.NoError(t, err)
	defer func() { require.NoError(t, setup.Close(ctx)) }()
	require.NoError(t, setup.CreateTopics(ctx, []string{topic}, cfg.Partitions))
}
