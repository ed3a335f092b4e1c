package pulsar

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// The broker's default maxMessageSize is 5 MiB for the whole entry; the
// headroom leaves room for message metadata and batch framing.
const defaultMaxMessageBytes = 5<<20 - 64<<10

// config is a parsed connection URL. It holds secrets, so it has no String
// method and is never logged.
type config struct {
	serviceURL string // scheme and hosts only
	tenant     string
	namespace  string

	token     string
	tokenFile string

	tlsTrustCertsFile          string
	tlsCertFile, tlsKeyFile    string
	tlsAllowInsecureConnection bool
	tlsValidateHostname        bool

	connectionTimeout time.Duration
	operationTimeout  time.Duration

	sendTimeout             time.Duration
	batching                bool
	batchingMaxPublishDelay time.Duration
	batchingEagerFlush      bool
	partitionsDiscovery     time.Duration // how often producers look for partitions added to their topic
	batchingMaxMessages     int
	maxPendingMessages      int

	receiverQueueSize int
	maxMessageBytes   int

	adminURL string // the admin REST API, for lag and topic admin; empty for none
}

// urlShape: the service address as host; credentials, tenant and
// namespace are parameters.
var urlShape = driver.URLShape{Host: true, Want: "pulsar://host:port?token=...&tenant=...&namespace=..."}

// parseConfig reads cfg.URL. Errors name parameters, never their values.
func parseConfig(cfg driver.OpenConfig) (*config, error) {
	u := cfg.URL
	if u.Scheme != "pulsar" && u.Scheme != "pulsar+ssl" {
		return nil, fmt.Errorf("%w: scheme %q is not pulsar or pulsar+ssl", driver.ErrInvalidURL, u.Scheme)
	}
	if err := urlShape.Check(u); err != nil {
		return nil, err
	}
	q := driver.NewQuery(u)
	c := &config{
		serviceURL: u.Scheme + "://" + withDefaultPorts(u.Host, u.Scheme),
		tenant:     q.String("tenant", "public"),
		namespace:  q.String("namespace", "default"),

		token:     q.Secret("token"),
		tokenFile: q.File("tokenFile"),

		tlsTrustCertsFile:          q.File("tlsTrustCertsFile"),
		tlsCertFile:                q.File("tlsCertFile"),
		tlsKeyFile:                 q.File("tlsKeyFile"),
		tlsAllowInsecureConnection: q.Bool("tlsAllowInsecureConnection", false),
		tlsValidateHostname:        q.Bool("tlsValidateHostname", true),

		connectionTimeout: q.Duration("connectionTimeout", 10*time.Second),
		operationTimeout:  q.Duration("operationTimeout", 30*time.Second),

		sendTimeout:             q.Duration("sendTimeout", 30*time.Second),
		batching:                q.Bool("batching", true),
		batchingMaxPublishDelay: q.Duration("batchingMaxPublishDelay", 10*time.Millisecond),
		batchingEagerFlush:      q.Bool("batchingEagerFlush", true),
		partitionsDiscovery:     q.Duration("partitionsAutoDiscoveryInterval", time.Minute),
		batchingMaxMessages:     q.Int("batchingMaxMessages", 1000, 1),
		maxPendingMessages:      q.Int("maxPendingMessages", 10000, 1),

		receiverQueueSize: q.Int("receiverQueueSize", 1000, 1),
		maxMessageBytes:   q.Int("maxMessageBytes", defaultMaxMessageBytes, 1),

		adminURL: q.String("adminURL", defaultAdminURL(u)),
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	var problems []string
	if c.tenant == "" || c.namespace == "" {
		problems = append(problems, "tenant and namespace must not be empty")
	}
	if c.token != "" && c.tokenFile != "" {
		problems = append(problems, "token and tokenFile are exclusive")
	}
	if (c.tlsCertFile == "") != (c.tlsKeyFile == "") {
		problems = append(problems, "tlsCertFile and tlsKeyFile go together")
	}
	if c.tlsCertFile != "" && (c.token != "" || c.tokenFile != "") {
		problems = append(problems, "TLS client certificates and tokens are exclusive")
	}
	if a, err := url.Parse(c.adminURL); c.adminURL != "" && (err != nil || (a.Scheme != "http" && a.Scheme != "https") || a.Host == "") {
		problems = append(problems, "adminURL must be an http:// or https:// URL")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s://: %v", driver.ErrInvalidURL, u.Scheme, problems)
	}
	return c, nil
}

// withDefaultPorts adds Pulsar's default port to every host of a
// comma-separated host list that has none.
func withDefaultPorts(hosts, scheme string) string {
	port := "6650"
	if scheme == "pulsar+ssl" {
		port = "6651"
	}
	list := strings.Split(hosts, ",")
	for i, h := range list {
		if _, _, err := net.SplitHostPort(h); err != nil {
			list[i] = net.JoinHostPort(h, port)
		}
	}
	return strings.Join(list, ",")
}

// defaultAdminURL is the HTTP service of the URL's first broker on
// Pulsar's default web port: 8080, or 8443 with TLS.
func defaultAdminURL(u *url.URL) string {
	host, _, _ := strings.Cut(u.Host, ",")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if u.Scheme == "pulsar+ssl" {
		return "https://" + net.JoinHostPort(host, "8443")
	}
	return "http://" + net.JoinHostPort(host, "8080")
}

// clientOptions builds the pulsar-client-go options for c.
func (c *config) clientOptions() pulsar.ClientOptions {
	opts := pulsar.ClientOptions{
		URL:                        c.serviceURL,
		ConnectionTimeout:          c.connectionTimeout,
		OperationTimeout:           c.operationTimeout,
		TLSTrustCertsFilePath:      c.tlsTrustCertsFile,
		TLSAllowInsecureConnection: c.tlsAllowInsecureConnection,
		TLSValidateHostname:        c.tlsValidateHostname,
	}
	switch {
	case c.token != "":
		opts.Authentication = pulsar.NewAuthenticationToken(c.token)
	case c.tokenFile != "":
		opts.Authentication = pulsar.NewAuthenticationTokenFromFile(c.tokenFile)
	case c.tlsCertFile != "":
		opts.Authentication = pulsar.NewAuthenticationTLS(c.tlsCertFile, c.tlsKeyFile)
	}
	return opts
}
