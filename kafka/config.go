package kafka

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// passThroughPrefix marks URL parameters handed to librdkafka unchanged:
// "librdkafka.<property>" goes to every client, "librdkafka.producer.<property>"
// and "librdkafka.consumer.<property>" to one kind only.
const passThroughPrefix = "librdkafka."

// config is a parsed kafka:// URL.
type config struct {
	brokers string

	clientID          string
	acks              string
	idempotent        bool
	linger            time.Duration
	lingerGiven       bool // the URL sets linger
	compression       string
	maxMessageBytes   int
	deliveryTimeout   time.Duration
	groupProtocol     string
	isolation         string
	sessionTimeout    time.Duration
	commitInterval    time.Duration
	revokeTimeout     time.Duration
	receiveBuffer     int
	createTopics      bool
	partitions        int
	replicationFactor int

	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsKeyPass    string
	tlsSkipVerify bool

	saslMechanism string
	saslUser      string
	saslPassword  string

	common, producer, consumer map[string]string
}

// urlShape: brokers as the host list, SASL credentials as user info.
var urlShape = driver.URLShape{Host: true, User: true, Want: "kafka://host:port[,host:port...]"}

func parseConfig(cfg driver.OpenConfig) (*config, error) {
	u := cfg.URL
	if err := urlShape.Check(u); err != nil {
		return nil, err
	}
	q := driver.NewQuery(u)
	c := &config{
		brokers:           u.Host,
		clientID:          q.String("client_id", "eventbus"),
		acks:              q.Enum("acks", "all", "all", "1", "0"),
		idempotent:        q.Bool("idempotent", true),
		linger:            q.NonNegativeDuration("linger", 0), // a lone Publish waits a round trip, no timer
		lingerGiven:       u.Query().Has("linger"),
		compression:       q.Enum("compression", "none", "none", "gzip", "snappy", "lz4", "zstd"),
		maxMessageBytes:   q.Int("max_message_bytes", 4<<20, 16<<10),
		deliveryTimeout:   q.Duration("delivery_timeout", 2*time.Minute),
		groupProtocol:     q.Enum("group_protocol", "", "classic", "consumer"),
		isolation:         q.Enum("isolation", "read_committed", "read_committed", "read_uncommitted"),
		sessionTimeout:    q.Duration("session_timeout", 10*time.Second),
		commitInterval:    q.Duration("commit_interval", time.Second),
		revokeTimeout:     q.Duration("revoke_timeout", 10*time.Second),
		receiveBuffer:     q.Int("receive_buffer", 4096, 1),
		createTopics:      q.Bool("create_topics", false),
		partitions:        q.Int("partitions", 1, 1),
		replicationFactor: q.Int("replication_factor", -1, -1),
		tls:               q.Bool("tls", false),
		tlsCA:             q.File("tls_ca"),
		tlsCert:           q.File("tls_cert"),
		tlsKey:            q.File("tls_key"),
		tlsKeyPass:        q.Secret("tls_key_password"),
		tlsSkipVerify:     q.Bool("tls_skip_verify", false),
		saslMechanism:     q.Enum("sasl_mechanism", "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
		saslUser:          q.String("sasl_username", ""),
		saslPassword:      q.Secret("sasl_password"),
	}
	rest := q.Rest(passThroughPrefix)
	if err := q.Err(); err != nil {
		return nil, err
	}
	if u.User != nil {
		if c.saslUser != "" {
			return nil, fmt.Errorf("%w: kafka://: SASL user given both in the URL and as sasl_username", driver.ErrInvalidURL)
		}
		c.saslUser = u.User.Username()
		c.saslPassword, _ = u.User.Password()
	}
	if c.saslUser != "" && c.saslMechanism == "" {
		c.saslMechanism = "PLAIN"
	}
	if c.saslMechanism != "" && c.saslUser == "" {
		return nil, fmt.Errorf("%w: kafka://: sasl_mechanism %s needs a user (kafka://user:password@host or sasl_username)", driver.ErrInvalidURL, c.saslMechanism)
	}
	if c.saslMechanism != "" && c.saslPassword == "" {
		return nil, fmt.Errorf("%w: kafka://: SASL user %q has no password (kafka://user:password@host or sasl_password)", driver.ErrInvalidURL, c.saslUser)
	}
	if c.tlsCA != "" || c.tlsCert != "" || c.tlsKey != "" || c.tlsSkipVerify {
		c.tls = true
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, fmt.Errorf("%w: kafka://: tls_cert and tls_key go together", driver.ErrInvalidURL)
	}
	if c.idempotent && c.acks != "all" {
		return nil, fmt.Errorf("%w: kafka://: acks=%s needs idempotent=false (an idempotent producer writes with acks=all)", driver.ErrInvalidURL, c.acks)
	}
	c.common, c.producer, c.consumer = map[string]string{}, map[string]string{}, map[string]string{}
	for key, v := range rest {
		switch {
		case strings.HasPrefix(key, "producer."):
			c.producer[strings.TrimPrefix(key, "producer.")] = v
		case strings.HasPrefix(key, "consumer."):
			c.consumer[strings.TrimPrefix(key, "consumer.")] = v
		case key == "":
			return nil, fmt.Errorf("%w: kafka://: parameter %q names no librdkafka property", driver.ErrInvalidURL, passThroughPrefix)
		default:
			c.common[key] = v
		}
	}
	return c, nil
}

// securityProtocol derives librdkafka's security.protocol from the TLS and
// SASL settings.
func (c *config) securityProtocol() string {
	switch {
	case c.tls && c.saslMechanism != "":
		return "sasl_ssl"
	case c.saslMechanism != "":
		return "sasl_plaintext"
	case c.tls:
		return "ssl"
	}
	return "plaintext"
}

// base is the configuration every client shares, pass-through last so it
// can override anything.
func (c *config) base(kind map[string]string) *kafka.ConfigMap {
	m := kafka.ConfigMap{
		"bootstrap.servers":        c.brokers,
		"client.id":                c.clientID,
		"security.protocol":        c.securityProtocol(),
		"allow.auto.create.topics": false,
		"go.logs.channel.enable":   true,
		// TCP_NODELAY, as the Java and the Go clients set it: with
		// Nagle's algorithm a small produce request written while the
		// previous one is unacknowledged can wait for its response
		// (docs/kafka.md has the measurements).
		"socket.nagle.disable": true,
	}
	if c.tls {
		setIf(m, "ssl.ca.location", c.tlsCA)
		setIf(m, "ssl.certificate.location", c.tlsCert)
		setIf(m, "ssl.key.location", c.tlsKey)
		setIf(m, "ssl.key.password", c.tlsKeyPass)
		if c.tlsSkipVerify {
			m["enable.ssl.certificate.verification"] = false
			m["ssl.endpoint.identification.algorithm"] = "none"
		}
	}
	if c.saslMechanism != "" {
		m["sasl.mechanism"] = c.saslMechanism
		m["sasl.username"] = c.saslUser
		m["sasl.password"] = c.saslPassword
	}
	for k, v := range c.common {
		m[k] = v
	}
	for k, v := range kind {
		m[k] = v
	}
	return &m
}

func setIf(m kafka.ConfigMap, key, value string) {
	if value != "" {
		m[key] = value
	}
}

func (c *config) producerConfig() *kafka.ConfigMap { return c.producerConfigLinger(c.linger) }

// txLinger is the linger of transactional producers when the URL sets
// none. Their commit sends what is queued at once, so a linger costs it
// nothing, and it keeps a transaction's outputs to a partition in few
// requests. A transaction commits even when librdkafka reported some of
// its outputs delivered without an offset, which may never have been
// written (see conn.confirmed); several requests in flight to a partition
// that a new producer writes to, and every transactional producer is new,
// make that likelier.
const txLinger = 5 * time.Millisecond

// transactionalProducerConfig is producerConfig with txLinger unless the
// URL sets a linger.
func (c *config) transactionalProducerConfig() *kafka.ConfigMap {
	if c.lingerGiven {
		return c.producerConfig()
	}
	return c.producerConfigLinger(txLinger)
}

// maxInFlight is the producers' produce requests in flight per broker.
const maxInFlight = 2

func (c *config) producerConfigLinger(linger time.Duration) *kafka.ConfigMap {
	m := kafka.ConfigMap{
		"acks":               c.acks,
		"enable.idempotence": c.idempotent,
		// librdkafka takes fractions of a millisecond.
		"linger.ms":         strconv.FormatFloat(float64(linger)/float64(time.Millisecond), 'f', -1, 64),
		"compression.type":  c.compression,
		"message.max.bytes": c.maxMessageBytes,
		// A message larger than batch.size (1 MB by default) next to a
		// small one in the same partition queue was seen to be lost: the
		// idempotent producer reported the small one as a duplicate.
		"batch.size":         c.maxMessageBytes,
		"message.timeout.ms": int(c.deliveryTimeout.Milliseconds()),
		// With no linger, what arrives while requests are in flight
		// makes the next one: two in flight per broker instead of
		// librdkafka's five make fewer, fuller requests, which costs
		// the producer and the broker less per message.
		"max.in.flight.requests.per.connection": maxInFlight,
		"go.delivery.reports":                   true,
		// Publish reads only a report's partition, offset and error:
		// copying each record's key and value back into Go memory (the
		// client's default) is wasted work.
		"go.delivery.report.fields": "none",
		"go.events.channel.size":    1024,
	}
	maps.Copy(m, *c.base(c.producer))
	return &m
}

// consumerConfig is for one subscription. group is the consumer group and
// protocol its group protocol, "classic" or "consumer" (KIP-848);
// ephemeral subscriptions assign partitions themselves and commit nothing.
func (c *config) consumerConfig(group, protocol string, ephemeral bool) *kafka.ConfigMap {
	m := kafka.ConfigMap{
		"group.id":                 group,
		"enable.auto.offset.store": false,
		"enable.auto.commit":       !ephemeral,
		"auto.commit.interval.ms":  int(c.commitInterval.Milliseconds()),
		"auto.offset.reset":        "earliest",
		// librdkafka's defaults wait up to 1s after a full local queue and
		// 500ms for a fetch to fill; both throttle a fast handler.
		"fetch.queue.backoff.ms": 10,
		"fetch.wait.max.ms":      100,
		// A partition's fetch must hold the largest message we publish.
		"max.partition.fetch.bytes": c.maxMessageBytes,
		"fetch.max.bytes":           max(52428800, c.maxMessageBytes),
		"go.events.channel.enable":  false,
		"isolation.level":           c.isolation,
	}
	if protocol == "consumer" && !ephemeral {
		// KIP-848: the broker assigns partitions and times sessions out.
		m["group.protocol"] = "consumer"
	} else {
		m["partition.assignment.strategy"] = "cooperative-sticky"
		m["session.timeout.ms"] = int(c.sessionTimeout.Milliseconds())
		// A cooperative rebalance takes two rounds, each started by a
		// heartbeat: librdkafka's 3s default makes a joining member wait.
		m["heartbeat.interval.ms"] = int(min(c.sessionTimeout/10, 500*time.Millisecond).Milliseconds())
	}
	if ephemeral {
		m["auto.offset.reset"] = "latest"
	}
	maps.Copy(m, *c.base(c.consumer))
	return &m
}

// redacted names the brokers without user info or parameters.
func (c *config) redacted() string { return "kafka://" + c.brokers }
