package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
)

func init() {
	bus.Register("kafka", open)
}

// recordOverhead is what a record adds to the payload, key and headers
// package bus counts: the CloudEvents headers it does not see and the
// record and batch framing.
const recordOverhead = 4 << 10

// conn is one kafka:// connection: a shared producer, an admin client on
// the producer's handle, and a consumer per group (member.go).
type conn struct {
	cfg      *config
	logger   *slog.Logger
	producer *kafka.Producer
	admin    *kafka.AdminClient

	topicsMu sync.Mutex
	topics   map[string]topicCheck // what is known of each topic used

	authErr atomic.Pointer[kafka.Error] // the last authentication or TLS handshake failure

	groupProtocolMu sync.Mutex
	groupProtocol   string // the consumer group protocol, once chosen; see group.go

	membersMu sync.Mutex
	members   map[memberKey][]*member // the consumers that group subscriptions share
	polling   atomic.Int32            // consumers polled, shared or not (poll.go)

	closed    driver.CloseFlag
	closeOnce sync.Once
	closeErr  error
	drained   sync.WaitGroup // the event and log draining goroutines
	// inFlight counts produced messages whose delivery report has not
	// come yet, so that Close reports only messages really unflushed.
	inFlight atomic.Int64
	// calls counts client calls that run beside a ctx which may have
	// ended: the clients close only after they return.
	calls sync.WaitGroup
}

// open connects to the Kafka cluster named by cfg.URL; bus.Open calls it
// for kafka:// URLs. See the package documentation for the parameters.
func open(ctx context.Context, cfg driver.OpenConfig) (driver.Conn, error) {
	c, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	producer, err := kafka.NewProducer(c.producerConfig())
	if err != nil {
		return nil, fmt.Errorf("kafka: %s: new producer: %w", c.redacted(), err)
	}
	cn := &conn{cfg: c, logger: cfg.Logger, producer: producer, topics: make(map[string]topicCheck)}
	cn.drained.Go(func() { forwardLogs(cn.logger, producer.Logs()) })
	cn.drained.Go(cn.drainEvents)
	cn.admin, err = kafka.NewAdminClientFromProducer(producer)
	if err != nil {
		producer.Close()
		return nil, fmt.Errorf("kafka: %s: new admin client: %w", c.redacted(), err)
	}
	// Fail fast on unreachable brokers and bad credentials rather than on
	// the first Publish.
	if err := cn.connect(ctx); err != nil {
		cn.calls.Wait()
		cn.admin.Close()
		producer.Close()
		cn.drained.Wait()
		return nil, fmt.Errorf("kafka: %s: connect: %w", c.redacted(), err)
	}
	return cn, nil
}

// connect waits for cluster metadata, in short steps so that an
// authentication failure or a failed TLS handshake (an unverifiable broker
// certificate, a host name it does not name) ends the wait at once. Beside
// it, a probe of each bootstrap address ends it at once when the URL's
// security settings do not fit the listener, and names the addresses that
// could not be reached when the wait times out.
func (c *conn) connect(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	ctx, misconfigured := context.WithCancelCause(ctx)
	defer misconfigured(nil)
	var mu sync.Mutex
	var unreachable []error
	for _, addr := range strings.Split(c.cfg.brokers, ",") {
		go func() {
			switch err := probe(ctx, addr, c.cfg); {
			case errors.Is(err, errMisconfigured):
				misconfigured(err)
			case err != nil:
				mu.Lock()
				unreachable = append(unreachable, err)
				mu.Unlock()
			}
		}()
	}
	for {
		if authErr := c.authErr.Load(); authErr != nil {
			return *authErr
		}
		stepCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := c.metadata(stepCtx, nil)
		cancel()
		if err == nil {
			return nil
		}
		if cause := context.Cause(ctx); errors.Is(cause, errMisconfigured) {
			return cause
		}
		if ctx.Err() != nil {
			mu.Lock()
			defer mu.Unlock()
			if len(unreachable) > 0 {
				return fmt.Errorf("no broker answered before %w: %w", ctx.Err(), errors.Join(unreachable...))
			}
			return fmt.Errorf("no cluster metadata before %w: %w", ctx.Err(), err)
		}
	}
}

// String names the brokers, never credentials.
func (c *conn) String() string { return c.cfg.redacted() }

// drainEvents logs the producer's events other than delivery reports,
// which go to each Publish call's own channel.
func (c *conn) drainEvents() {
	for ev := range c.producer.Events() {
		switch e := ev.(type) {
		case kafka.Error:
			if code := e.Code(); code == kafka.ErrAuthentication || code == kafka.ErrSaslAuthenticationFailed || code == kafka.ErrSsl {
				c.authErr.Store(&e)
			}
			// librdkafka's log lines, forwarded too, already tell of
			// transient errors such as a broker down.
			level := slog.LevelDebug
			if e.IsFatal() {
				level = slog.LevelError
			}
			c.logger.Log(context.Background(), level, "kafka: producer error", "err", e, "fatal", e.IsFatal())
		case *kafka.Message:
			// A delivery report without a waiter: its Publish gave up.
		default:
			c.logger.Debug("kafka producer event", "event", e.String())
		}
	}
}

// Capabilities implements driver.Conn.
func (c *conn) Capabilities() driver.Capabilities {
	address, port := driver.FirstServer(c.cfg.brokers, 9092)
	return driver.Capabilities{
		MaxMessageBytes: c.cfg.maxMessageBytes - recordOverhead,
		System:          "kafka",
		ServerAddress:   address,
		ServerPort:      port,
	}
}

// As reaches *kafka.Producer and *kafka.AdminClient.
func (c *conn) As(target any) bool {
	switch t := target.(type) {
	case **kafka.Producer:
		*t = c.producer
	case **kafka.AdminClient:
		*t = c.admin
	default:
		return false
	}
	return true
}

// Publish produces msgs and waits for every delivery report. Each call has
// its own report channel, sized so librdkafka's poller never blocks on it.
// A message whose delivery the broker did not confirm (see confirmed) is
// produced again.
func (c *conn) Publish(ctx context.Context, topic string, msgs []driver.Message) error {
	if c.closed.IsClosed() {
		return driver.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka: produce to %q: none published: %w", topic, err)
	}
	if err := c.ensureTopic(ctx, topic, topicServed); err != nil {
		return err
	}
	reports := make(chan kafka.Event, len(msgs))
	errs := make(driver.MessageErrors, len(msgs))
	reported := make([]bool, len(msgs))
	failed, waiting := false, 0
	var again []int         // unconfirmed messages to produce again
	var unconfirmed []uint8 // per message, times it went unconfirmed; made on the first
	fail := func(i int, err error) {
		reported[i], errs[i], failed = true, err, true
	}
	receive := func(ev kafka.Event) {
		m, ok := ev.(*kafka.Message)
		if !ok {
			return
		}
		i := *m.Opaque.(*int)
		waiting--
		c.inFlight.Add(-1)
		switch {
		case m.TopicPartition.Error != nil:
			fail(i, fmt.Errorf("kafka: produce to %q partition %d: %w", topic, m.TopicPartition.Partition, wrapKafkaError(m.TopicPartition.Error)))
		case c.confirmed(m):
			reported[i] = true
		default:
			if unconfirmed == nil {
				unconfirmed = make([]uint8, len(msgs))
			}
			unconfirmed[i]++
			if unconfirmed[i] > maxUnconfirmed {
				fail(i, fmt.Errorf("kafka: produce to %q partition %d: %w", topic, m.TopicPartition.Partition, errUnconfirmed))
				return
			}
			c.logger.Warn("kafka: the broker did not confirm a message reported delivered; producing it again, so it may arrive twice or after later messages of its key",
				"topic", topic, "partition", m.TopicPartition.Partition, "id", msgs[i].ID)
			again = append(again, i)
		}
	}
	records := newRecords(topic, msgs)
	produce := func(i int) {
		if err := ctx.Err(); err != nil {
			// Produce nothing more: the caller has given up.
			if unconfirmed != nil && unconfirmed[i] > 0 {
				fail(i, fmt.Errorf("kafka: produce to %q: %w: %w", topic, errUnconfirmed, err))
			} else {
				fail(i, fmt.Errorf("kafka: produce to %q: not published: %w", topic, err))
			}
			return
		}
		km := &records[i]
		for {
			c.inFlight.Add(1)
			err := c.producer.Produce(km, reports)
			if err == nil {
				waiting++
				return
			}
			c.inFlight.Add(-1)
			var kerr kafka.Error
			if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull || ctx.Err() != nil {
				fail(i, fmt.Errorf("kafka: produce to %q: %w", topic, wrapKafkaError(err)))
				return
			}
			// librdkafka's queue is full: wait for room.
			if waiting > 0 {
				select {
				case ev := <-reports:
					receive(ev)
				case <-ctx.Done(): // the next Produce reports it
				}
			} else {
				c.producer.Flush(10)
			}
		}
	}
	for i := range records {
		produce(i)
	}
	for waiting > 0 || len(again) > 0 {
		for len(again) > 0 {
			i := again[0]
			again = again[1:]
			produce(i)
		}
		if waiting == 0 {
			break
		}
		select {
		case ev := <-reports:
			receive(ev)
		case <-ctx.Done():
			for i, done := range reported {
				if !done {
					errs[i] = fmt.Errorf("kafka: produce to %q: no delivery report yet, the message may still be delivered: %w", topic, ctx.Err())
				}
			}
			// The reports still come (at the latest when Close purges):
			// count them out of inFlight.
			go func() {
				for ; waiting > 0; waiting-- {
					<-reports
					c.inFlight.Add(-1)
				}
			}()
			return errs
		}
	}
	if failed {
		return errs
	}
	return nil
}

// maxUnconfirmed is how many times Publish produces a message again that
// the broker did not confirm before it gives up on it.
const maxUnconfirmed = 3

// errUnconfirmed is a message's error when librdkafka reported it delivered
// but the broker did not confirm it.
var errUnconfirmed = errors.New("the broker did not confirm the message, which may be lost or may have arrived")

// confirmed tells whether a delivery report without an error is the
// broker's confirmation of the message: one with an offset. The idempotent
// producer also reports messages delivered without one, "implicitly acked"
// by the success of a later request of the same partition, on the premise
// that a broker accepts a producer's sequence numbers only in order. A
// broker accepts any first sequence number from a producer it does not
// know on a partition, though: when the first requests of a new producer
// to a partition fail without being written (a leader not serving the
// partition yet, as right after the topic's creation or during a leader
// election, answers "not leader") while a later one is in flight and
// succeeds, their messages are reported delivered and were never written
// (confluent-kafka-go issue 921). Such a report is not taken for a
// delivery. Without a linger, one Publish of several messages sends a
// partition several requests, which makes it likelier.
func (c *conn) confirmed(m *kafka.Message) bool {
	return !c.cfg.idempotent || m.TopicPartition.Offset >= 0
}

// newRecords turns driver messages into Kafka records: Key to the record
// key, ID, Time and Header to CloudEvents headers, the record timestamp
// left to librdkafka (the produce time);
// each record's Opaque points to its index in msgs. The records of one
// call share one array of records, one of headers and one buffer for keys
// and header values, to spare the garbage collector (Produce copies them
// into C memory). A time shared by consecutive messages, as Publish's
// default time is, is formatted once.
func newRecords(topic string, msgs []driver.Message) []kafka.Message {
	nHeaders, size := 0, 64
	for i := range msgs {
		m := &msgs[i]
		nHeaders += 5 + len(m.Header)
		size += len(m.Key) + len(m.ID) + len(driver.SpecVersion) + len(driver.DefaultType) + len(driver.DefaultSource)
		for _, v := range m.Header {
			size += len(v)
		}
	}
	records := make([]kafka.Message, len(msgs))
	indexes := make([]int, len(msgs)) // Opaque points here: no boxing per message
	headers := make([]kafka.Header, 0, nHeaders)
	buf := make([]byte, 0, size)
	var lastTime time.Time
	var lastTimeValue []byte
	add := func(key, value string) {
		start := len(buf)
		buf = append(buf, value...)
		headers = append(headers, kafka.Header{Key: key, Value: buf[start:len(buf):len(buf)]})
	}
	addTime := func(key string, t time.Time) {
		if lastTimeValue == nil || !t.Equal(lastTime) || t.Location() != lastTime.Location() {
			start := len(buf)
			buf = t.AppendFormat(buf, driver.TimeFormat)
			lastTime, lastTimeValue = t, buf[start:len(buf):len(buf)]
		}
		headers = append(headers, kafka.Header{Key: key, Value: lastTimeValue})
	}
	for i := range msgs {
		m := &msgs[i]
		indexes[i] = i
		records[i] = kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Value:          m.Payload,
			// No Timestamp: the record carries its produce time (or the
			// broker's append time), while the event time travels in
			// ce_time. Kafka rejects record timestamps too far from the
			// broker's clock (log.message.timestamp.*.max.ms) and deletes
			// records by them, so an event time cannot be one.
			Opaque: &indexes[i],
		}
		if m.Key != "" {
			start := len(buf)
			buf = append(buf, m.Key...)
			records[i].Key = buf[start:len(buf):len(buf)]
		}
		start := len(headers)
		driver.EncodeHeadersTime(m, add, addTime)
		records[i].Headers = headers[start:len(headers):len(headers)]
	}
	return records
}

// wrapKafkaError maps librdkafka error codes to the driver's sentinels.
func wrapKafkaError(err error) error {
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return err
	}
	switch kerr.Code() {
	case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic:
		return fmt.Errorf("%w: %w", driver.ErrTopicNotFound, err)
	case kafka.ErrMsgSizeTooLarge, kafka.ErrRecordListTooLarge:
		return fmt.Errorf("%w: %w", driver.ErrMessageTooLarge, err)
	}
	return err
}

// metadata fetches cluster metadata, for one topic or none, within ctx.
func (c *conn) metadata(ctx context.Context, topic *string) (*kafka.Metadata, error) {
	timeout := 10 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		// A little past the deadline, so that ctx ends first and the
		// caller sees its error rather than librdkafka's timeout.
		timeout = max(time.Until(deadline), time.Millisecond) + 100*time.Millisecond
	}
	// GetMetadata takes no ctx: run it beside ctx, bounded by the same
	// deadline, so that a cancelled ctx returns at once.
	type result struct {
		md  *kafka.Metadata
		err error
	}
	done := make(chan result, 1)
	c.calls.Go(func() {
		md, err := c.admin.GetMetadata(topic, false, int(timeout.Milliseconds()))
		done <- result{md, err}
	})
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			// Timed out with ctx: say so, errors.Is included.
			return nil, fmt.Errorf("%w: %w", ctx.Err(), r.err)
		}
		return r.md, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// EnsureTopic implements driver.TopicEnsurer: bus checks dead-letter
// topics with it at Subscribe.
func (c *conn) EnsureTopic(ctx context.Context, topic string) error {
	return c.ensureTopic(ctx, topic, topicExists)
}

// topicCheck is what a conn has made sure of a topic.
type topicCheck uint8

const (
	topicExists topicCheck = iota + 1 // it exists
	topicServed                       // and its leaders served it (see awaitLeaders)
)

// ensureTopic makes sure, once per topic, that it exists, creating it when
// the URL asks for that, and for want topicServed that the leaders of its
// partitions serve it. Producers and consumers never auto-create topics,
// so a missing topic is an error rather than a broker setting's accident.
func (c *conn) ensureTopic(ctx context.Context, topic string, want topicCheck) error {
	if strings.Contains(topic, "/") {
		// Kafka's own rule, on top of the portable one: one segment.
		return fmt.Errorf("%w: kafka: topic %q: Kafka topic names have no '/'", driver.ErrInvalidTopic, topic)
	}
	c.topicsMu.Lock()
	known := c.topics[topic]
	c.topicsMu.Unlock()
	if known >= want {
		return nil
	}
	if known == topicExists {
		return c.served(ctx, topic)
	}
	exists, err := c.topicExists(ctx, topic)
	for retry := 0; errors.Is(err, errNotReady) && retry < 50 && ctx.Err() == nil; retry++ {
		// A topic being created (maybe by the broker's auto-creation)
		// has no leader yet.
		time.Sleep(100 * time.Millisecond)
		exists, err = c.topicExists(ctx, topic)
	}
	if err != nil {
		return err
	}
	switch {
	case exists:
	case !c.cfg.createTopics:
		return fmt.Errorf("kafka: topic %q: %w (create it, or set create_topics=true)", topic, driver.ErrTopicNotFound)
	default:
		err := c.createTopic(ctx, topic, c.cfg.partitions)
		if err == nil {
			c.checked(topic, topicServed)
			return nil
		}
		if !errors.Is(err, driver.ErrTopicExists) {
			return err
		}
	}
	c.checked(topic, topicExists)
	if want == topicServed {
		return c.served(ctx, topic)
	}
	return nil
}

// served waits for topic's leaders (awaitLeaders) and records that.
func (c *conn) served(ctx context.Context, topic string) error {
	if err := c.awaitLeaders(ctx, topic); err != nil {
		return err
	}
	c.checked(topic, topicServed)
	return nil
}

// checked records what is now known of topic.
func (c *conn) checked(topic string, check topicCheck) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.topics[topic] = max(c.topics[topic], check)
}

var errNotReady = errors.New("not ready")

func (c *conn) topicExists(ctx context.Context, topic string) (bool, error) {
	md, err := c.metadata(ctx, &topic)
	if err != nil {
		return false, fmt.Errorf("kafka: metadata of topic %q: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok {
		return false, nil
	}
	switch t.Error.Code() {
	case kafka.ErrNoError:
		return len(t.Partitions) > 0, nil
	case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic:
		return false, nil
	case kafka.ErrLeaderNotAvailable:
		return false, fmt.Errorf("kafka: topic %q: %w: %w", topic, errNotReady, t.Error)
	case kafka.ErrTopicException, kafka.ErrInvalidArg:
		return false, fmt.Errorf("%w: kafka: topic %q: %w", driver.ErrInvalidTopic, topic, t.Error)
	}
	return false, fmt.Errorf("kafka: metadata of topic %q: %w", topic, t.Error)
}

// createTopic creates topic with partitions partitions, the configured
// replication and a max.message.bytes that fits the producer's largest
// message.
func (c *conn) createTopic(ctx context.Context, topic string, partitions int) error {
	results, err := c.admin.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic:             topic,
		NumPartitions:     partitions,
		ReplicationFactor: c.cfg.replicationFactor,
		Config:            map[string]string{"max.message.bytes": fmt.Sprint(c.cfg.maxMessageBytes)},
	}})
	if err != nil {
		return fmt.Errorf("kafka: create topic %q: %w", topic, err)
	}
	for _, r := range results {
		switch r.Error.Code() {
		case kafka.ErrNoError:
		case kafka.ErrTopicAlreadyExists:
			return fmt.Errorf("kafka: create topic %q: %w", topic, driver.ErrTopicExists)
		case kafka.ErrTopicException:
			return fmt.Errorf("%w: kafka: create topic %q: %w", driver.ErrInvalidTopic, topic, r.Error)
		default:
			return fmt.Errorf("kafka: create topic %q: %w", topic, r.Error)
		}
	}
	// Creation is asynchronous on the brokers: wait until metadata shows it.
	for {
		ok, err := c.topicExists(ctx, topic)
		if err != nil && !errors.Is(err, errNotReady) {
			return err
		}
		if ok {
			return c.awaitLeaders(ctx, topic)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: create topic %q: not visible yet: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// maxLeaderWait bounds awaitLeaders (delivery_timeout does too).
const maxLeaderWait = 10 * time.Second

// awaitLeaders waits until the leader of each of topic's partitions serves
// it. Metadata names a new topic's leaders a moment before they do; until
// then they answer produce requests "not leader", and librdkafka's
// idempotent producer may report messages of such a request delivered
// unwritten when a later request succeeds (see confirmed). A list-offsets
// request meets the same check on the broker as a produce request.
//
// A leader still away after maxLeaderWait is a broker's failure rather
// than a new topic's: the wait then ends with a warning, so that messages
// for the other partitions go out, and fails only when ctx ends.
func (c *conn) awaitLeaders(ctx context.Context, topic string) error {
	wctx, cancel := context.WithTimeout(ctx, min(maxLeaderWait, c.cfg.deliveryTimeout))
	defer cancel()
	tps, err := c.partitions(wctx, topic)
	if err == nil {
		_, err = c.offsets(wctx, tps, kafka.LatestOffsetSpec)
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("kafka: topic %q: waiting for its partitions' leaders: %w", topic, ctx.Err())
	}
	c.logger.Warn("kafka: a partition's leader does not serve it yet; going on without it", "topic", topic, "err", err)
	return nil
}

// Close flushes what is pending within ctx, then closes the clients.
// librdkafka's own Close does not wait for deliveries.
func (c *conn) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Close()
		// Only produced messages without a delivery report count: the
		// producer's queue also holds requests of its own.
		for c.inFlight.Load() > 0 && ctx.Err() == nil {
			c.producer.Flush(50)
		}
		if n := c.inFlight.Load(); n > 0 {
			c.closeErr = fmt.Errorf("kafka: close %s: %d messages without a delivery report: %w", c.cfg.redacted(), n, ctx.Err())
			_ = c.producer.Purge(kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking)
		}
		c.calls.Wait()
		c.admin.Close()
		c.producer.Close()
		c.drained.Wait()
	})
	return c.closeErr
}

// forwardLogs writes librdkafka's log lines to logger until the client
// closes logs. librdkafka never logs passwords.
func forwardLogs(logger *slog.Logger, logs chan kafka.LogEvent) {
	for e := range logs {
		// syslog levels: 0-3 errors, 4 warning, 5-6 notice and info, 7 debug.
		level := slog.LevelDebug
		switch {
		case e.Level <= 3:
			level = slog.LevelError
		case e.Level == 4:
			level = slog.LevelWarn
		case e.Level == 5:
			level = slog.LevelInfo
		}
		logger.Log(context.Background(), level, e.Message, "librdkafka", e.Name, "tag", e.Tag)
	}
}
