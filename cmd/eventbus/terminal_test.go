package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// terminal is a tmux session running one command on a real terminal, as a
// person would see it.
type terminal struct {
	t      *testing.T
	socket string
}

func newTerminal(t *testing.T, command string) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed for the terminal tests (apt-get install tmux): %v", err)
	}
	term := &terminal{t: t, socket: uniqueTopic("eventbus-test")}
	term.tmux("new-session", "-d", "-x", "160", "-y", "40", "-s", "cli", command+"; sleep 600")
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", term.socket, "kill-server").Run() })
	return term
}

func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", term.socket}, args...)...).CombinedOutput()
	require.NoError(term.t, err, "tmux %v: %s", args, out)
	return string(out)
}

// screen is what the terminal shows now, without its empty last lines.
func (term *terminal) screen() string {
	return strings.TrimRight(term.tmux("capture-pane", "-p", "-t", "cli"), "\n")
}

// waitFor waits until the screen shows every one of texts. A terminal
// offers no event to wait for, so it looks every 100ms.
func (term *terminal) waitFor(timeout time.Duration, texts ...string) string {
	term.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		screen := term.screen()
		missing := ""
		for _, text := range texts {
			if !strings.Contains(screen, text) {
				missing = text
				break
			}
		}
		if missing == "" {
			return screen
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the terminal did not show %q within %v; it shows:\n%s", missing, timeout, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestTailOnATerminal(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			topic := uniqueTopic("cli-term")
			ok(t, be.url, "", "topics", "create", topic)
			term := newTerminal(t, "EVENTBUS_URL="+shellQuote(be.url)+" "+binary+" tail "+topic+" --from-start")
			ok(t, be.url, "", "publish", topic, `{"order":42}`, "--key", "order-42", "--header", "tenant=acme",
				"--content-type", "application/json")
			screen := term.waitFor(time.Minute, "── "+topic, "key=order-42", "tenant: acme", `{"order":42}`)
			t.Logf("the terminal shows:\n%s", screen)
		})
	}
}

func TestReplayOnATerminal(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			topic, group := uniqueTopic("cli-term-dlq"), uniqueTopic("group")
			deadLetter(t, be.url, topic, group, 10)
			target := uniqueTopic("cli-term-replayed")
			ok(t, be.url, "", "topics", "create", target)
			term := newTerminal(t, "EVENTBUS_URL="+shellQuote(be.url)+" "+binary+" dlq replay "+
				bus.DefaultDeadLetterTopic(topic, group)+" --to "+target+" --rate 4")
			// At 4 a second, the bar is on screen for about two seconds.
			progress := term.waitFor(time.Minute, "replaying", "/10")
			t.Logf("while replaying:\n%s", progress)
			summary := term.waitFor(time.Minute, "selected 10, replayed 10, already replayed before 0")
			require.NotContains(t, summary, "replaying", "the bar is cleared at the end")
		})
	}
}
