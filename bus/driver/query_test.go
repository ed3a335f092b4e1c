package driver_test

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newQuery(t *testing.T, raw string) *driver.Query {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return driver.NewQuery(u)
}

func TestQueryDefaultsWhenAbsent(t *testing.T) {
	q := newQuery(t, "kafka://host:9092")
	assert.Equal(t, "def", q.String("s", "def"))
	assert.Equal(t, 7, q.Int("i", 7, 1))
	assert.True(t, q.Bool("b", true))
	assert.Equal(t, 3*time.Second, q.Duration("d", 3*time.Second))
	assert.Equal(t, "fast", q.Enum("e", "fast", "fast", "slow"))
	assert.Empty(t, q.Secret("password"))
	assert.Empty(t, q.Rest("librdkafka."))
	assert.NoError(t, q.Err())
}

func TestQueryReadsGoodValues(t *testing.T) {
	q := newQuery(t, "kafka://host?s=hello%20world&i=42&b=false&d=250ms&e=slow&password=p%40ss")
	assert.Equal(t, "hello world", q.String("s", "def"))
	assert.Equal(t, 42, q.Int("i", 7, 1))
	assert.False(t, q.Bool("b", true))
	assert.Equal(t, 250*time.Millisecond, q.Duration("d", time.Second))
	assert.Equal(t, "slow", q.Enum("e", "fast", "fast", "slow"))
	assert.Equal(t, "p@ss", q.Secret("password"))
	assert.NoError(t, q.Err())
}

func TestQueryNonNegativeDurationTakesZero(t *testing.T) {
	q := newQuery(t, "x://?linger=0ms&wait=500us")
	assert.Equal(t, time.Duration(0), q.NonNegativeDuration("linger", 5*time.Millisecond))
	assert.Equal(t, 500*time.Microsecond, q.NonNegativeDuration("wait", time.Second))
	assert.Equal(t, time.Second, q.NonNegativeDuration("absent", time.Second))
	assert.NoError(t, q.Err())
}

func TestQueryEmptyStringIsAValue(t *testing.T) {
	q := newQuery(t, "kafka://host?s=")
	assert.Empty(t, q.String("s", "def"))
	assert.NoError(t, q.Err())
}

func TestQueryBadValues(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		read func(q *driver.Query) any
		def  any
		want []string
	}{
		{"int not a number", "x://?retries=many", func(q *driver.Query) any { return q.Int("retries", 3, 0) }, 3,
			[]string{`parameter "retries"`, `"many"`, "an integer >= 0"}},
		{"int below min", "x://?retries=0", func(q *driver.Query) any { return q.Int("retries", 3, 1) }, 3,
			[]string{`parameter "retries"`, `"0"`, "an integer >= 1"}},
		{"int with fraction", "x://?retries=1.5", func(q *driver.Query) any { return q.Int("retries", 3, 1) }, 3,
			[]string{`parameter "retries"`, `"1.5"`}},
		{"bool", "x://?tls=maybe", func(q *driver.Query) any { return q.Bool("tls", true) }, true,
			[]string{`parameter "tls"`, `"maybe"`, "a boolean"}},
		{"duration without unit", "x://?timeout=5", func(q *driver.Query) any { return q.Duration("timeout", time.Second) }, time.Second,
			[]string{`parameter "timeout"`, `"5"`, "a positive duration"}},
		{"duration zero", "x://?timeout=0s", func(q *driver.Query) any { return q.Duration("timeout", time.Second) }, time.Second,
			[]string{`parameter "timeout"`, `"0s"`}},
		{"duration negative", "x://?timeout=-1s", func(q *driver.Query) any { return q.Duration("timeout", time.Second) }, time.Second,
			[]string{`parameter "timeout"`, `"-1s"`}},
		{"non-negative duration negative", "x://?linger=-1ms", func(q *driver.Query) any { return q.NonNegativeDuration("linger", time.Second) }, time.Second,
			[]string{`parameter "linger"`, `"-1ms"`, "a duration of zero or more"}},
		{"non-negative duration without unit", "x://?linger=5", func(q *driver.Query) any { return q.NonNegativeDuration("linger", time.Second) }, time.Second,
			[]string{`parameter "linger"`, `"5"`}},
		{"enum", "x://?acks=some", func(q *driver.Query) any { return q.Enum("acks", "all", "all", "leader", "none") }, "all",
			[]string{`parameter "acks"`, `"some"`, "one of all, leader, none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQuery(t, tt.raw)
			assert.Equal(t, tt.def, tt.read(q), "a bad value gives the default")
			err := q.Err()
			require.ErrorIs(t, err, driver.ErrInvalidURL)
			assert.True(t, strings.HasPrefix(err.Error(), "eventbus: invalid URL: x://: "), err.Error())
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestQueryRepeatedParameter(t *testing.T) {
	q := newQuery(t, "x://?retries=1&retries=2")
	assert.Equal(t, 2, q.Int("retries", 0, 0), "the last value counts")
	err := q.Err()
	require.ErrorIs(t, err, driver.ErrInvalidURL)
	assert.Contains(t, err.Error(), `parameter "retries" given 2 times`)
}

func TestQueryUnknownParameters(t *testing.T) {
	q := newQuery(t, "x://?zeta=1&retries=2&alpha=3&tls=true")
	q.Int("retries", 0, 0)
	q.Bool("tls", false)
	q.String("timeout", "")
	q.String("retries", "") // asked twice, listed once
	err := q.Err()
	require.ErrorIs(t, err, driver.ErrInvalidURL)
	assert.Equal(t, `eventbus: invalid URL: x://: unknown parameter "alpha", "zeta" (known: retries, timeout, tls)`, err.Error())
}

func TestQueryReportsEveryProblem(t *testing.T) {
	q := newQuery(t, "x://?retries=x&tls=y&bogus=1")
	q.Int("retries", 0, 0)
	q.Bool("tls", false)
	err := q.Err()
	require.ErrorIs(t, err, driver.ErrInvalidURL)
	for _, w := range []string{`"retries"`, `"tls"`, `unknown parameter "bogus"`} {
		assert.Contains(t, err.Error(), w)
	}
}

func TestQueryRest(t *testing.T) {
	q := newQuery(t, "kafka://host?librdkafka.linger.ms=5&librdkafka.acks=all&retries=2&other.x=1")
	retries := q.Int("retries", 0, 0)
	rest := q.Rest("librdkafka.")
	assert.Equal(t, 2, retries)
	assert.Equal(t, map[string]string{"linger.ms": "5", "acks": "all"}, rest)
	assert.Empty(t, q.Rest("librdkafka."), "Rest takes what it returns")

	err := q.Err()
	require.ErrorIs(t, err, driver.ErrInvalidURL)
	// Only the parameter without the prefix is left unknown.
	assert.Contains(t, err.Error(), `unknown parameter "other.x" (known: `)
}

func TestQueryRestAloneIsClean(t *testing.T) {
	q := newQuery(t, "kafka://host?librdkafka.a=1&librdkafka.b=2")
	assert.Len(t, q.Rest("librdkafka."), 2)
	assert.NoError(t, q.Err())
}

func TestQueryRestRepeated(t *testing.T) {
	q := newQuery(t, "kafka://host?librdkafka.a=1&librdkafka.a=2")
	assert.Equal(t, map[string]string{"a": "2"}, q.Rest("librdkafka."))
	err := q.Err()
	require.ErrorIs(t, err, driver.ErrInvalidURL)
	assert.Contains(t, err.Error(), `parameter "librdkafka.a" given 2 times`)
}

func TestQuerySecretNeverShown(t *testing.T) {
	const secret = "hunter2"
	tests := []struct {
		name    string
		raw     string
		wantErr bool
	}{
		{"alone", "x://?password=" + secret, false},
		{"repeated", "x://?password=" + secret + "&password=" + secret + "x", true},
		{"next to bad values", "x://?password=" + secret + "&retries=x&tls=maybe&bogus=1", true},
		{"next to unknown params", "x://?bogus=1&password=" + secret + "&zzz=2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQuery(t, tt.raw)
			assert.Contains(t, q.Secret("password"), secret)
			q.Int("retries", 0, 0)
			q.Bool("tls", false)
			err := q.Err()
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, driver.ErrInvalidURL)
			assert.Contains(t, err.Error(), "password", "the error may name the parameter")
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestQueryErrNilWhenAllRead(t *testing.T) {
	q := newQuery(t, "x://?a=1&b=true")
	q.Int("a", 0, 0)
	q.Bool("b", false)
	assert.NoError(t, q.Err())
	assert.NoError(t, q.Err(), "Err can be called again")
}

func TestQueryMalformedIsAnError(t *testing.T) {
	for _, raw := range []string{"x://h?a=1;b=2", "x://h?a=%zz", "x://h?a=1&b=%"} {
		t.Run(raw, func(t *testing.T) {
			q := newQuery(t, raw)
			q.String("a", "")
			q.String("b", "")
			err := q.Err()
			require.ErrorIs(t, err, driver.ErrInvalidURL)
			assert.ErrorContains(t, err, "malformed query")
		})
	}
}

func TestQueryFile(t *testing.T) {
	dir := t.TempDir()
	present := dir + "/ca.pem"
	require.NoError(t, os.WriteFile(present, []byte("x"), 0o600))

	q := newQuery(t, "x://h?ca="+url.QueryEscape(present))
	assert.Equal(t, present, q.File("ca"))
	assert.Empty(t, q.File("absent"))
	assert.NoError(t, q.Err())

	for _, path := range []string{dir + "/missing.pem", dir} {
		q = newQuery(t, "x://h?ca="+url.QueryEscape(path))
		q.File("ca")
		err := q.Err()
		require.ErrorIs(t, err, driver.ErrInvalidURL)
		assert.ErrorContains(t, err, `parameter "ca"`)
		assert.ErrorContains(t, err, path, "the error names the file")
	}
}
