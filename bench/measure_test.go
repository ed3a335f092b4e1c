package bench

import (
	"context"
	"math"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLatencyOf(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	l := latencyOf(samples)
	require.NotNil(t, l)
	assert.Equal(t, Percentiles{Count: 100, P50: 50, P99: 99, Max: 100}, *l)
	assert.Nil(t, latencyOf(nil))
}

func TestHistogramQuantile(t *testing.T) {
	buckets := []float64{0, 0.001, 0.002, math.Inf(1)}
	before := &metrics.Float64Histogram{Counts: []uint64{5, 5, 5}, Buckets: buckets}
	// Since before: 998 waits under 1 ms, 1 under 2 ms, 1 beyond.
	after := &metrics.Float64Histogram{Counts: []uint64{1003, 6, 6}, Buckets: buckets}
	assert.Equal(t, time.Millisecond, histogramQuantile(before, after, 0.99))
	assert.Equal(t, 2*time.Millisecond, histogramQuantile(before, after, 0.999))
	// The last bucket is open: its lower bound stands for it.
	assert.Equal(t, 2*time.Millisecond, histogramQuantile(before, after, 1))
	assert.Zero(t, histogramQuantile(after, after, 0.999), "nothing counted in between")
	assert.NotNil(t, schedLatencies())
}

func TestCount(t *testing.T) {
	assert.Equal(t, "0", count(0))
	assert.Equal(t, "999", count(999))
	assert.Equal(t, "1,000", count(1000))
	assert.Equal(t, "1,569,172", count(1569172.4))
}

func TestConfigValidate(t *testing.T) {
	assert.NoError(t, DefaultConfig().Validate())
	cfg := DefaultConfig()
	cfg.Rate, cfg.Keys = 0, -1
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rate must be positive")
	assert.Contains(t, err.Error(), "keys must be positive")
	_, err = Run(context.Background(), Job{Scenario: Latency, Contender: "memory/eventbus", Config: cfg})
	assert.ErrorContains(t, err, "rate must be positive")
}
