package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// binary is the eventbus command built for these tests: they run it as a
// user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventbus-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "eventbus")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// quiet keeps the tests' own buses from logging the dead letters they make.
var quiet = bus.Logger(slog.New(slog.DiscardHandler))

// backend is a broker the CLI tests run against.
type backend struct {
	name string
	url  string
}

func backends(t *testing.T) []backend {
	return []backend{
		{"Kafka", "kafka://" + testbroker.Kafka(t) + "?create_topics=true"},
		{"Pulsar", testbroker.Pulsar(t) + "?adminURL=" + testbroker.PulsarAdmin(t)},
	}
}

// result is what one run of the command did.
type result struct {
	stdout, stderr string
	code           int
}

// eventbus runs the command with args against url, stdin as its input.
func eventbus(t *testing.T, url, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "EVENTBUS_URL="+url)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("eventbus %v: %v", args, err)
	}
	return r
}

// ok runs the command and requires it to succeed.
func ok(t *testing.T, url, stdin string, args ...string) string {
	t.Helper()
	r := eventbus(t, url, stdin, args...)
	require.Zero(t, r.code, "eventbus %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

func uniqueTopic(prefix string) string { return prefix + "-" + rand.Text()[:10] }

// jsonLines decodes tail's and dlq list's --json output.
func jsonLines(t *testing.T, out string) []jsonMessage {
	t.Helper()
	var msgs []jsonMessage
	for line := range strings.Lines(out) {
		var m jsonMessage
		require.NoError(t, json.Unmarshal([]byte(line), &m), "line %q", line)
		msgs = append(msgs, m)
	}
	return msgs
}

func TestPublishTopicsTail(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			topic := uniqueTopic("cli")
			assert.Equal(t, "created "+topic+"\n", ok(t, be.url, "", "topics", "create", topic, "--partitions", "3"))
			assert.Contains(t, ok(t, be.url, "", "topics", "describe", topic), "partitions: 3")
			assert.Contains(t, ok(t, be.url, "", "topics", "list"), topic)

			out := ok(t, be.url, "", "publish", topic, `{"n":1}`, `{"n":2}`, "--key", "order-1",
				"--content-type", "application/json", "--header", "tenant=acme", "--type", "com.example.OrderCreated")
			assert.Equal(t, "published 2 message(s) to "+topic+"\n", out)
			ok(t, be.url, "plain one\nplain two\n", "publish", topic, "--lines", "--key", "order-1")

			msgs := jsonLines(t, ok(t, be.url, "", "tail", topic, "--from-start", "--max", "4", "--json"))
			require.Len(t, msgs, 4)
			assert.JSONEq(t, `{"n":1}`, string(msgs[0].Data))
			assert.JSONEq(t, `{"n":2}`, string(msgs[1].Data))
			assert.JSONEq(t, `"plain one"`, string(msgs[2].Data))
			assert.JSONEq(t, `"plain two"`, string(msgs[3].Data))
			for _, m := range msgs {
				assert.Equal(t, "order-1", m.Key)
				assert.NotEmpty(t, m.ID)
			}
			assert.Equal(t, "acme", msgs[0].Headers["tenant"])
			assert.Equal(t, "application/json", msgs[0].Headers["content-type"])
			assert.Equal(t, "com.example.OrderCreated", msgs[0].Headers["ce_type"])

			text := ok(t, be.url, "", "tail", topic, "--from-start", "--max", "1")
			assert.Contains(t, text, "key=order-1")
			assert.Contains(t, text, "tenant: acme")
			assert.Contains(t, text, `{"n":1}`)
		})
	}
}

func TestLag(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			topic, group := uniqueTopic("cli-lag"), uniqueTopic("group")
			ok(t, be.url, "", "topics", "create", topic)
			joinAndLeave(t, be.url, topic, group)
			ok(t, be.url, "a\nb\nc\n", "publish", topic, "--lines")
			out := ok(t, be.url, "", "lag", topic, "--group", group)
			assert.Regexp(t, `total\s+3\s`, out)
		})
	}
}

func TestDeadLetters(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			topic, group := uniqueTopic("cli-dlq"), uniqueTopic("group")
			dlq := bus.DefaultDeadLetterTopic(topic, group)
			deadLetter(t, be.url, topic, group, 3)

			list := ok(t, be.url, "", "dlq", "list", dlq)
			assert.Contains(t, list, "cannot handle")
			letters := jsonLines(t, ok(t, be.url, "", "dlq", "list", dlq, "--json"))
			require.Len(t, letters, 3)
			show := ok(t, be.url, "", "dlq", "show", dlq, letters[0].ID)
			assert.Contains(t, show, "eventbus-dlq-error: cannot handle")

			target := uniqueTopic("cli-replayed")
			ok(t, be.url, "", "topics", "create", target)
			out := ok(t, be.url, "", "dlq", "replay", dlq, "--to", target, "--rate", "100")
			assert.Equal(t, "selected 3, replayed 3, already replayed before 0\n", out)
			again := ok(t, be.url, "", "dlq", "replay", dlq, "--to", target)
			assert.Equal(t, "selected 3, replayed 0, already replayed before 3\n", again)

			replayed := jsonLines(t, ok(t, be.url, "", "tail", target, "--from-start", "--max", "3", "--json"))
			require.Len(t, replayed, 3)
			for _, m := range replayed {
				for h := range m.Headers {
					assert.NotContains(t, h, "eventbus-dlq-", "replayed without the failure headers")
				}
			}
		})
	}
}

// joinAndLeave makes group a member of topic's groups that has consumed
// nothing.
func joinAndLeave(t *testing.T, url, topic, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, url, quiet)
	require.NoError(t, err)
	_, err = b.Subscribe(ctx, topic, func(context.Context, *bus.Message) error { return nil }, bus.Group(group))
	require.NoError(t, err)
	require.NoError(t, b.Close(ctx))
}

// deadLetter publishes n messages to topic and dead-letters them in group.
func deadLetter(t *testing.T, url, topic, group string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, url, quiet)
	require.NoError(t, err)
	defer b.Close(context.Background())
	dlq := bus.DefaultDeadLetterTopic(topic, group)
	require.NoError(t, b.CreateTopic(ctx, topic, 1))
	require.NoError(t, b.CreateTopic(ctx, dlq, 1))
	_, err = b.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error {
		return bus.Permanent(fmt.Errorf("cannot handle %s", m.Payload))
	}, bus.Group(group), bus.DeadLetter())
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, b.Publish(ctx, topic, &bus.Message{Key: fmt.Sprint("k", i), Payload: fmt.Appendf(nil, "poison-%d", i)}))
	}
	// A handler's run is not yet its dead letter (a run may also come
	// twice): wait for n distinct letters on the dead-letter topic.
	letters := make(map[string]bool, n)
	errAll := errors.New("all dead-lettered")
	err = b.ReadTopic(ctx, dlq, true, func(m *bus.Message) error {
		if letters[m.ID] = true; len(letters) == n {
			return errAll
		}
		return nil
	})
	require.ErrorIs(t, err, errAll, "dead letters seen: %d of %d", len(letters), n)
	require.NoError(t, b.Close(ctx))
}

func TestErrors(t *testing.T) {
	r := eventbus(t, "", "", "topics")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "no backend URL")

	r = eventbus(t, "bogus://x", "", "topics")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, `unknown scheme "bogus"`)

	r = eventbus(t, "mem://", "", "publish", "t", "--no-such-flag")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "no-such-flag")

	r = eventbus(t, "mem://", "", "publish")
	assert.Equal(t, exitUsage, r.code)

	r = eventbus(t, "kafka://user:s3cret-pw@127.0.0.1:1", "", "topics", "--connect-timeout", "2s")
	assert.Equal(t, exitFail, r.code)
	assert.NotContains(t, r.stderr+r.stdout, "s3cret-pw", "the password never shows")

	help := eventbus(t, "kafka://user:s3cret-pw@127.0.0.1:1", "", "--help")
	assert.Zero(t, help.code)
	assert.NotContains(t, help.stdout, "s3cret-pw", "help never shows the URL")
	assert.Contains(t, help.stdout, "Examples:")

	for _, shell := range []string{"bash", "zsh", "fish"} {
		c := eventbus(t, "", "", "completion", shell)
		assert.Zero(t, c.code, shell)
		assert.Contains(t, c.stdout, "eventbus", shell)
	}
}

func TestTopicsErrorsOnBrokers(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			missing := uniqueTopic("cli-missing")
			r := eventbus(t, be.url, "", "topics", "describe", missing)
			assert.Equal(t, exitFail, r.code)
			assert.Contains(t, r.stderr, "not found")
			topic := uniqueTopic("cli-twice")
			ok(t, be.url, "", "topics", "create", topic)
			r = eventbus(t, be.url, "", "topics", "create", topic)
			assert.Equal(t, exitFail, r.code)
			assert.Contains(t, r.stderr, "exists")
		})
	}
}
