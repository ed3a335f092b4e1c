package kafka

import (
	"log/slog"
	"net/url"
	"testing"

	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// FuzzParseConfig parses arbitrary kafka:// URLs: no panic, every failure
// wraps ErrInvalidURL, the SASL password never shows in an error, and what
// parses builds a producer configuration.
func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		"kafka://h:9092", "kafka://u:pw@h:9092?sasl_mechanism=SCRAM-SHA-512", "kafka://h?acks=1&idempotent=false",
		"kafka://h?acks=all;linger=5ms", "kafka://h?client_id=%zz", "kafka://h?tls_ca=/nonexistent", "kafka://",
		"kafka://h/path", "kafka://h?librdkafka.=1", "kafka://h?librdkafka.producer.linger.ms=1&partitions=0",
		"kafka://u@h", "kafka://h?sasl_username=u&sasl_password=pw&sasl_password=pw2",
	}
	bustest.FuzzURL(f, "sasl_password", seeds, func(u *url.URL) error {
		c, err := parseConfig(driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			_ = c.producerConfig()
		}
		return err
	})
}
