package driver

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query reads a connection URL's parameters and reports, through Err, every
// bad value and every parameter nobody asked for, by name.
type Query struct {
	scheme string
	values url.Values
	known  []string
	errs   []string
}

// NewQuery returns a Query over u's parameters. A malformed query (a ';'
// separator, a bad %-escape) is reported by Err: url.URL.Query would drop
// the parameters it cannot parse without a word.
func NewQuery(u *url.URL) *Query {
	values, err := url.ParseQuery(u.RawQuery)
	q := &Query{scheme: u.Scheme, values: values}
	if err != nil {
		// The error quotes at most the bad escape, never a whole value.
		q.errs = append(q.errs, fmt.Sprintf("malformed query: %v (separate parameters with &, escape %% as %%25)", err))
	}
	return q
}

func (q *Query) take(name string) (string, bool) {
	q.known = append(q.known, name)
	vs, ok := q.values[name]
	if !ok {
		return "", false
	}
	delete(q.values, name)
	if len(vs) > 1 {
		q.errs = append(q.errs, fmt.Sprintf("parameter %q given %d times", name, len(vs)))
	}
	return vs[len(vs)-1], true
}

func (q *Query) bad(name, value, want string) {
	q.errs = append(q.errs, fmt.Sprintf("parameter %q: %q is not %s", name, value, want))
}

// String returns the parameter's value, or def when absent.
func (q *Query) String(name, def string) string {
	if v, ok := q.take(name); ok {
		return v
	}
	return def
}

// Secret is String for a value that must never be shown; a bad-value error
// names the parameter but never its value.
func (q *Query) Secret(name string) string {
	v, _ := q.take(name)
	return v
}

// File returns the parameter, the path of a file that must exist and be
// readable, or "" when absent. A missing or unreadable file is reported by
// Err with the parameter and the path: TLS libraries report it later and
// without the file name.
func (q *Query) File(name string) string {
	v, ok := q.take(name)
	if !ok || v == "" {
		return ""
	}
	f, err := os.Open(v)
	if err == nil {
		var info os.FileInfo
		if info, err = f.Stat(); err == nil && info.IsDir() {
			err = fmt.Errorf("%s is a directory", v)
		}
		f.Close()
	}
	if err != nil {
		q.errs = append(q.errs, fmt.Sprintf("parameter %q: cannot read file: %v", name, err))
	}
	return v
}

// Int returns the parameter as an integer of at least min, or def.
func (q *Query) Int(name string, def, min int) int {
	v, ok := q.take(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		q.bad(name, v, fmt.Sprintf("an integer >= %d", min))
		return def
	}
	return n
}

// Bool returns the parameter as a boolean, or def.
func (q *Query) Bool(name string, def bool) bool {
	v, ok := q.take(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.bad(name, v, "a boolean")
		return def
	}
	return b
}

// Duration returns the parameter as a positive Go duration ("250ms"), or def.
func (q *Query) Duration(name string, def time.Duration) time.Duration {
	v, ok := q.take(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		q.bad(name, v, "a positive duration such as 250ms")
		return def
	}
	return d
}

// NonNegativeDuration returns the parameter as a Go duration of zero or
// more ("0s", "500us"), or def: for waits that zero switches off.
func (q *Query) NonNegativeDuration(name string, def time.Duration) time.Duration {
	v, ok := q.take(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		q.bad(name, v, "a duration of zero or more such as 0ms or 250ms")
		return def
	}
	return d
}

// Enum returns the parameter, which must be one of allowed, or def.
func (q *Query) Enum(name, def string, allowed ...string) string {
	v, ok := q.take(name)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, v) {
		q.bad(name, v, "one of "+strings.Join(allowed, ", "))
		return def
	}
	return v
}

// Rest returns the parameters not yet read whose names start with prefix,
// without the prefix, and marks them read. Drivers use it for pass-through
// settings such as kafka's "librdkafka." parameters.
func (q *Query) Rest(prefix string) map[string]string {
	rest := make(map[string]string)
	for name := range q.values {
		if key, ok := strings.CutPrefix(name, prefix); ok {
			v, _ := q.take(name)
			rest[key] = v
		}
	}
	return rest
}

// Err reports bad values and unknown parameters, naming each, wrapped in
// ErrInvalidURL; nil when all is well. Call it after reading every parameter.
func (q *Query) Err() error {
	errs := q.errs
	if len(q.values) > 0 {
		unknown := make([]string, 0, len(q.values))
		for name := range q.values {
			unknown = append(unknown, strconv.Quote(name))
		}
		slices.Sort(unknown)
		known := slices.Clone(q.known)
		slices.Sort(known)
		known = slices.Compact(known)
		errs = append(errs, fmt.Sprintf("unknown parameter %s (known: %s)",
			strings.Join(unknown, ", "), strings.Join(known, ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s://: %s", ErrInvalidURL, q.scheme, strings.Join(errs, "; "))
}
