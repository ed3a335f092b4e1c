package pulsar

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// FuzzParseConfig parses arbitrary pulsar:// URLs: no panic, every failure
// wraps ErrInvalidURL and never shows the token, and what parses builds
// client options.
func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		"pulsar://h", "pulsar+ssl://a,b:2?tenant=t&namespace=n", "pulsar://h?tenant=a;namespace=b", "pulsar://h?token=%zz",
		"pulsar://h?tokenFile=/nonexistent", "pulsar://u:p@h", "pulsar://h/t/n", "pulsar://h?tenant=", "pulsar://h?tlsCertFile=/x",
		"pulsar://h?receiverQueueSize=0&sendTimeout=soon", "pulsar://",
	}
	bustest.FuzzURL(f, "token", seeds, func(u *url.URL) error {
		c, err := parseConfig(driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			_ = c.clientOptions()
		}
		return err
	})
}

// FuzzFullTopicName maps arbitrary topic names: no panic; a name it
// accepts is a full name of three non-empty segments.
func FuzzFullTopicName(f *testing.F) {
	for _, seed := range []string{"orders", "t/n/x", "persistent://t/n/x", "non-persistent://t/n/x", "a/b", "kafka://t/n/x", "persistent://t//x", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		full, err := fullTopicName(topic, "public", "default")
		if err != nil {
			if !errors.Is(err, driver.ErrInvalidTopic) {
				t.Fatalf("%q: %v does not wrap ErrInvalidTopic", topic, err)
			}
			return
		}
		domain, rest, ok := strings.Cut(full, "://")
		parts := strings.Split(rest, "/")
		if !ok || (domain != "persistent" && domain != "non-persistent") || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			t.Fatalf("%q became %q", topic, full)
		}
	})
}
