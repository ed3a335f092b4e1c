package kafka

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// FuzzParseConfig parses arbitrary kafka:// URLs: no panic, every failure
// wraps ErrInvalidURL, and the SASL password never shows in an error or in
// the redacted name.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"kafka://h:9092", "kafka://u:pw@h:9092?sasl_mechanism=SCRAM-SHA-512", "kafka://h?acks=1&idempotent=false",
		"kafka://h?acks=all;linger=5ms", "kafka://h?client_id=%zz", "kafka://h?tls_ca=/nonexistent", "kafka://",
		"kafka://h/path", "kafka://h?librdkafka.=1", "kafka://h?librdkafka.producer.linger.ms=1&partitions=0",
		"kafka://u@h", "kafka://h?sasl_username=u&sasl_password=pw&sasl_password=pw2",
	} {
		f.Add(seed, "pw-Secret-1")
	}
	f.Fuzz(func(t *testing.T, raw, password string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if len(password) >= 6 && !strings.Contains(raw, password) {
			u.RawQuery += "&sasl_password=" + url.QueryEscape(password)
		}
		c, err := parseConfig(driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			if !errors.Is(err, driver.ErrInvalidURL) {
				t.Fatalf("%q: %v does not wrap ErrInvalidURL", raw, err)
			}
			if len(password) >= 6 && strings.Contains(err.Error(), password) && !strings.Contains(raw, password) {
				t.Fatalf("the password shows in %v", err)
			}
			return
		}
		if c.saslPassword != "" && strings.Contains(c.redacted(), c.saslPassword) && !strings.Contains(u.Host, c.saslPassword) {
			t.Fatalf("the password shows in %q", c.redacted())
		}
		_ = c.producerConfig()
	})
}
