package driver_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// FuzzQuery reads arbitrary query strings the way drivers do: no panic,
// every problem is an ErrInvalidURL error, and a secret's value never
// appears in it.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		"retention=10", "a=1;b=2", "a=%zz", "password=s3cret&password=0ther", "d=5s&b=maybe&e=slow",
		"librdkafka.linger.ms=5&librdkafka.=x", "ca=/nonexistent", "i=-1&i=2", "%", "&&&=",
	} {
		f.Add(seed, "s3cret")
	}
	f.Fuzz(func(t *testing.T, rawQuery, secret string) {
		u := &url.URL{Scheme: "x", Host: "h", RawQuery: rawQuery + "&password=" + url.QueryEscape(secret)}
		q := driver.NewQuery(u)
		q.String("s", "def")
		q.Int("i", 1, 0)
		q.Bool("b", false)
		q.Duration("d", 0)
		q.Enum("e", "fast", "fast", "slow")
		q.File("ca")
		got := q.Secret("password")
		q.Rest("librdkafka.")
		err := q.Err()
		if err == nil {
			return
		}
		require.ErrorIs(t, err, driver.ErrInvalidURL)
		if len(secret) >= 4 && got == secret && !strings.Contains(rawQuery, secret) && !strings.Contains("xhpassword", secret) {
			require.NotContains(t, err.Error(), secret, "the secret leaked")
		}
	})
}
