package pulsar

import (
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, raw string) (*config, error) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return parseConfig(driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parse(t, "pulsar://broker")
	require.NoError(t, err)
	assert.Equal(t, "pulsar://broker:6650", c.serviceURL)
	assert.Equal(t, "public", c.tenant)
	assert.Equal(t, "default", c.namespace)
	assert.Equal(t, 1000, c.receiverQueueSize)
	assert.Equal(t, 10*time.Millisecond, c.batchingMaxPublishDelay)
	assert.True(t, c.batchingEagerFlush)
	assert.Equal(t, defaultMaxMessageBytes, c.maxMessageBytes)
	assert.Nil(t, c.clientOptions().Authentication)
}

func TestParseConfigParameters(t *testing.T) {
	ca := t.TempDir() + "/ca.pem"
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	c, err := parse(t, "pulsar+ssl://a,b:2?tenant=acme&namespace=orders&token=s3cret&tlsTrustCertsFile="+url.QueryEscape(ca)+
		"&tlsValidateHostname=false&receiverQueueSize=5000&sendTimeout=5s&batchingMaxPublishDelay=1ms&batchingEagerFlush=false&maxMessageBytes=1048576")
	require.NoError(t, err)
	assert.Equal(t, "pulsar+ssl://a:6651,b:2", c.serviceURL)
	assert.Equal(t, "acme", c.tenant)
	assert.Equal(t, "orders", c.namespace)
	assert.Equal(t, 5000, c.receiverQueueSize)
	assert.Equal(t, 5*time.Second, c.sendTimeout)
	assert.Equal(t, time.Millisecond, c.batchingMaxPublishDelay)
	assert.False(t, c.batchingEagerFlush)
	assert.Equal(t, 1<<20, c.maxMessageBytes)
	opts := c.clientOptions()
	assert.Equal(t, ca, opts.TLSTrustCertsFilePath)
	assert.False(t, opts.TLSValidateHostname)
	assert.NotNil(t, opts.Authentication)
	assert.NotContains(t, opts.URL, "s3cret")
}

func TestParseConfigErrors(t *testing.T) {
	file := t.TempDir() + "/file"
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	for _, tc := range []struct{ url, want string }{
		{"pulsar://h?bogus=1", `unknown parameter "bogus"`},
		{"pulsar://h?receiverQueueSize=0", `"receiverQueueSize"`},
		{"pulsar://h?sendTimeout=soon", `"sendTimeout"`},
		{"pulsar://", "no host"},
		{"pulsar://h/tenant/ns", "unexpected path"},
		{"pulsar://user:s3cret@h", "user info"},
		{"pulsar://h?token=s3cret&tokenFile=" + url.QueryEscape(file), "exclusive"},
		{"pulsar://h?tlsCertFile=" + url.QueryEscape(file), "go together"},
		{"pulsar://h?tokenFile=/nonexistent/token", `parameter "tokenFile": cannot read file: open /nonexistent/token`},
		{"pulsar+ssl://h?tlsTrustCertsFile=/nonexistent/ca.pem", `parameter "tlsTrustCertsFile": cannot read file: open /nonexistent/ca.pem`},
		{"pulsar://h?tenant=a;namespace=b", "malformed query: invalid semicolon separator"},
		{"pulsar://h?token=s3cret%zz", `malformed query: invalid URL escape "%zz"`},
		{"pulsar://h?tenant=", "must not be empty"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := parse(t, tc.url)
			require.ErrorIs(t, err, driver.ErrInvalidURL)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestParseConfigBadTokenValueNotShown(t *testing.T) {
	_, err := parse(t, "pulsar://h?token=s3cret&token=0ther")
	require.ErrorIs(t, err, driver.ErrInvalidURL)
	assert.NotContains(t, err.Error(), "s3cret")
	assert.NotContains(t, err.Error(), "0ther")
}

func TestFullTopicName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"orders", "persistent://acme/ns/orders"},
		{"orders.billing.dlq", "persistent://acme/ns/orders.billing.dlq"},
		{"t/n/orders", "persistent://t/n/orders"},
		{"persistent://t/n/orders", "persistent://t/n/orders"},
		{"non-persistent://t/n/orders", "non-persistent://t/n/orders"},
	} {
		got, err := fullTopicName(tc.in, "acme", "ns")
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"", "a/b", "a/b/c/d", "kafka://t/n/x", "persistent://t//x", "persistent://t/n"} {
		_, err := fullTopicName(bad, "acme", "ns")
		assert.ErrorIs(t, err, driver.ErrInvalidTopic, bad)
	}
}

func TestSubscriptionTypeNames(t *testing.T) {
	for typ, want := range map[Type]string{KeyShared: "Key_Shared", Shared: "Shared", Failover: "Failover", Exclusive: "Exclusive", 9: "Type(9)"} {
		assert.Equal(t, want, typ.String())
		_, ok := typ.native()
		assert.Equal(t, typ != 9, ok)
	}
}
