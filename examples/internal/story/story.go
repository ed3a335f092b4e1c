// Package story prints the narration of the examples: one line per event,
// each headed by the service that tells it, safe to use from the handlers
// of several subscriptions at once.
package story

import (
	"fmt"
	"io"
	"sync"
)

// Teller writes story lines to one writer, a whole line at a time.
type Teller struct {
	mu  sync.Mutex
	out io.Writer
}

// New returns a Teller writing to out.
func New(out io.Writer) *Teller { return &Teller{out: out} }

// Say writes one line headed by who, such as "payments", formatted as with
// fmt.Printf. Write errors are ignored: the story is not the work.
func (t *Teller) Say(who, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "%-10s %s\n", who, fmt.Sprintf(format, args...))
}
