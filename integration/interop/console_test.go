package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// kafkaTool runs one of Kafka's command-line tools (the class of
// kafka-console-producer.sh or kafka-console-consumer.sh) with stdin and
// returns its standard output.
func kafkaTool(t *testing.T, class, stdin string, args ...string) string {
	t.Helper()
	lib := testbroker.KafkaTools(t)
	logConfig, err := filepath.Abs("../../scripts/config/log4j2-tools.xml")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	java := append([]string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-Dlog4j2.configurationFile=" + logConfig,
		"-cp", filepath.Join(lib, "*"), class}, args...)
	javaBin := "java"
	if home := os.Getenv("JAVA_HOME"); home != "" {
		javaBin = filepath.Join(home, "bin", "java") // as scripts/brokers.sh
	}
	cmd := exec.CommandContext(ctx, javaBin, java...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s %s\nstderr:\n%s", class, strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// consoleRecord is one line of the console consumer's output.
type consoleRecord struct {
	timestamp time.Time
	header    map[string]string
	key       string
	value     string
}

// consoleConsume reads n records of topic from the beginning with
// kafka-console-consumer, printing timestamp, headers, key and value
// separated by tabs, headers as name:value joined by commas.
func consoleConsume(t *testing.T, addr, topic string, n int) []consoleRecord {
	t.Helper()
	out := kafkaTool(t, "org.apache.kafka.tools.consumer.ConsoleConsumer", "",
		"--bootstrap-server", addr, "--topic", topic, "--from-beginning",
		"--max-messages", strconv.Itoa(n), "--timeout-ms", strconv.Itoa(int(waitTimeout.Milliseconds())),
		"--formatter-property", "print.timestamp=true",
		"--formatter-property", "print.headers=true",
		"--formatter-property", "print.key=true")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, n, "console consumer output:\n%s", out)
	records := make([]consoleRecord, n)
	for i, line := range lines {
		fields := strings.SplitN(line, "\t", 4)
		require.Len(t, fields, 4, "line %q", line)
		ms, err := strconv.ParseInt(strings.TrimPrefix(fields[0], "CreateTime:"), 10, 64)
		require.NoError(t, err, "timestamp of %q", line)
		r := consoleRecord{timestamp: time.UnixMilli(ms), header: map[string]string{}, key: fields[2], value: fields[3]}
		for _, h := range strings.Split(fields[1], ",") {
			name, value, ok := strings.Cut(h, ":")
			require.True(t, ok, "header %q", h)
			r.header[name] = value
		}
		records[i] = r
	}
	return records
}

func TestKafkaConsoleConsumerReadsEventbusRecords(t *testing.T) {
	addr := testbroker.Kafka(t)
	b := openBus(t, kafkaURL(addr))
	topic := uniqueName("interop-console-read")
	orders := bus.NewTopic(topic, codec.JSON[order]{}).WithEventType("com.example.order.created")
	m, err := orders.Message("o-1", order{ID: "o-1", Total: 3})
	require.NoError(t, err)
	at := time.Date(2099, 1, 2, 3, 4, 5, 600000000, time.UTC) // far from the broker's clock
	m.Time = at
	m.Header["tenant"] = "acme"
	start := time.Now()
	require.NoError(t, b.Publish(t.Context(), topic, m))

	r := consoleConsume(t, addr, topic, 1)[0]
	assert.Equal(t, map[string]string{
		"ce_specversion": "1.0",
		"ce_id":          m.ID,
		"ce_time":        "2099-01-02T03:04:05.6Z",
		"ce_type":        "com.example.order.created",
		"ce_source":      "eventbus",
		"content-type":   "application/json",
		"tenant":         "acme",
	}, r.header)
	assert.Equal(t, "o-1", r.key)
	assert.JSONEq(t, `{"id":"o-1","total":3}`, r.value)
	assert.WithinRange(t, r.timestamp, start.Add(-time.Minute), time.Now().Add(time.Minute), "CreateTime is the produce time; the event time is in ce_time")
}

func TestEventbusReadsKafkaConsoleProducerRecords(t *testing.T) {
	addr := testbroker.Kafka(t)
	topic := uniqueName("interop-console-write")
	createKafkaTopic(t, addr, topic)
	b := openBus(t, kafkaURL(addr))
	got := newInbox()
	// Dedup with its default key: plain records must not pass for each
	// other's duplicates.
	subscribe(t, b, topic, got.handle, bus.Use(memoryDedup(t)))

	start := time.Now()
	// The plainest producer: one record per line, no key, no headers.
	kafkaTool(t, "org.apache.kafka.tools.ConsoleProducer", "plain-0\nplain-1\nplain-2\n",
		"--bootstrap-server", addr, "--topic", topic)
	// CloudEvents binary mode (with a lower-case RFC 3339 time and a
	// charset parameter), then structured mode: headers, tab, key, tab, value.
	envelope := `{"specversion":"1.0","id":"console-structured","source":"/console","type":"com.example.order.created",` +
		`"time":"2031-01-01T00:00:00Z","subject":"o-3","datacontenttype":"application/json","data":{"id":"o-3","total":30}}`
	kafkaTool(t, "org.apache.kafka.tools.ConsoleProducer",
		"ce_specversion:1.0,ce_id:console-binary,ce_source:/console,ce_type:com.example.order.created,"+
			"ce_time:2030-06-07t08:09:10z,content-type:application/json; charset=utf-8\to-2\t"+`{"id":"o-2","total":20}`+"\n"+
			"content-type:application/cloudevents+json\to-3\t"+envelope+"\n",
		"--bootstrap-server", addr, "--topic", topic,
		"--reader-property", "parse.key=true", "--reader-property", "parse.headers=true")

	byID := map[string]*bus.Message{}
	for _, m := range got.await(t, 5) {
		byID[m.ID] = m
	}
	for i := range 3 {
		m := byID[topic+"/0/"+strconv.Itoa(i)] // <topic>/<partition>/<offset>
		require.NotNil(t, m, "record %d has its position as ID: %v", i, byID)
		assert.Equal(t, "plain-"+strconv.Itoa(i), string(m.Payload))
		assert.WithinRange(t, m.Time, start.Add(-time.Minute), time.Now().Add(time.Minute), "the record's timestamp")
		assert.Empty(t, m.Key)
		assert.Nil(t, m.Header)
	}

	binary := byID["console-binary"]
	require.NotNil(t, binary)
	assert.Equal(t, "console-binary", binary.ID)
	assert.Equal(t, "o-2", binary.Key)
	assert.True(t, time.Date(2030, 6, 7, 8, 9, 10, 0, time.UTC).Equal(binary.Time), "time %v", binary.Time)
	assert.Equal(t, map[string]string{"ce_source": "/console", "ce_type": "com.example.order.created",
		"content-type": "application/json; charset=utf-8"}, binary.Header)

	structured := byID["console-structured"]
	require.NotNil(t, structured)
	assert.Equal(t, "console-structured", structured.ID)
	assert.Equal(t, "o-3", structured.Key)
	assert.True(t, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Equal(structured.Time), "time %v", structured.Time)
	assert.Equal(t, map[string]string{"ce_source": "/console", "ce_type": "com.example.order.created",
		"ce_subject": "o-3", "content-type": "application/json"}, structured.Header)

	// Both decode with the JSON codec, as a typed topic would.
	for _, m := range []*bus.Message{binary, structured} {
		var o order
		require.NoError(t, json.Unmarshal(m.Payload, &o))
		assert.Equal(t, m.Key, o.ID)
	}
}
