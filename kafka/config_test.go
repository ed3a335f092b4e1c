package kafka

import (
	"net/url"
	"testing"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

func TestProducersKeepTwoRequestsInFlight(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  any
	}{
		{"", maxInFlight},
		{"librdkafka.producer.max.in.flight.requests.per.connection=5", "5"},
	} {
		c, err := parseConfig(driver.OpenConfig{URL: &url.URL{Scheme: "kafka", Host: "h:9092", RawQuery: tt.query}})
		require.NoError(t, err, tt.query)
		for _, cfg := range []*confluent.ConfigMap{c.producerConfig(), c.transactionalProducerConfig()} {
			assert.Equal(t, tt.want, (*cfg)["max.in.flight.requests.per.connection"], tt.query)
			p, err := confluent.NewProducer(cfg) // librdkafka accepts it beside idempotence
			require.NoError(t, err, tt.query)
			p.Close()
		}
	}
}

func TestClientsDisableNagle(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  any
	}{
		{"", true},
		{"librdkafka.socket.nagle.disable=false", "false"},
	} {
		c, err := parseConfig(driver.OpenConfig{URL: &url.URL{Scheme: "kafka", Host: "h:9092", RawQuery: tt.query}})
		require.NoError(t, err, tt.query)
		for name, cfg := range map[string]*confluent.ConfigMap{
			"producer":               c.producerConfig(),
			"transactional producer": c.transactionalProducerConfig(),
			"consumer":               c.consumerConfig("g", "consumer", false),
			"ephemeral consumer":     c.consumerConfig("", "classic", true),
		} {
			assert.Equal(t, tt.want, (*cfg)["socket.nagle.disable"], "%s, %q", name, tt.query)
		}
		p, err := confluent.NewProducer(c.producerConfig()) // librdkafka accepts it
		require.NoError(t, err, tt.query)
		p.Close()
	}
}

func TestLingerTakesZeroAndFractions(t *testing.T) {
	// want is the linger.ms of the shared producer, wantTx that of
	// transactional ones.
	for _, tt := range []struct{ query, want, wantTx string }{
		{"", "0", "5"},
		{"linger=0ms", "0", "0"},
		{"linger=5ms", "5", "5"},
		{"linger=500us", "0.5", "0.5"},
		{"linger=20ms", "20", "20"},
		{"librdkafka.producer.linger.ms=1", "1", "1"},
	} {
		c, err := parseConfig(driver.OpenConfig{URL: &url.URL{Scheme: "kafka", Host: "h:9092", RawQuery: tt.query}})
		require.NoError(t, err, tt.query)
		cfg := c.producerConfig()
		assert.Equal(t, tt.want, (*cfg)["linger.ms"], tt.query)
		assert.Equal(t, tt.wantTx, (*c.transactionalProducerConfig())["linger.ms"], "transactional, "+tt.query)
		// librdkafka itself accepts the value.
		p, err := confluent.NewProducer(cfg)
		require.NoError(t, err, tt.query)
		p.Close()
	}
	_, err := parseConfig(driver.OpenConfig{URL: &url.URL{Scheme: "kafka", Host: "h:9092", RawQuery: "linger=-1ms"}})
	require.ErrorIs(t, err, driver.ErrInvalidURL)
	assert.ErrorContains(t, err, `parameter "linger"`)
}
