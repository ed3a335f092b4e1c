// Package backends runs an example's flow in tests on every backend: the
// in-memory bus always, Kafka and Pulsar when the test brokers are there
// (see internal/testbroker, which skips or, under CI=true, fails without
// them).
package backends

import (
	"testing"

	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// Each runs flow as a subtest per backend, named "memory", "kafka" and
// "pulsar", with the URL to open.
func Each(t *testing.T, flow func(t *testing.T, url string)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { flow(t, "mem://") })
	t.Run("kafka", func(t *testing.T) { flow(t, KafkaURL(t)) })
	t.Run("pulsar", func(t *testing.T) { flow(t, PulsarURL(t)) })
}

// KafkaURL is the URL of the test Kafka broker.
func KafkaURL(t *testing.T) string {
	t.Helper()
	t.Skip("the kafka driver has not landed yet")
	return "kafka://" + testbroker.Kafka(t)
}

// PulsarURL is the URL of the test Pulsar broker.
func PulsarURL(t *testing.T) string {
	t.Helper()
	return testbroker.Pulsar(t)
}
