package bus

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTopicLength is the longest topic name accepted, in bytes: Kafka's
// limit, the strictest of the backends.
const MaxTopicLength = 249

// ValidateTopic checks name against the portable topic rule, which every
// Publish and Subscribe applies before the backend sees the name: at most
// MaxTopicLength bytes of ASCII letters, digits, '.', '_' and '-'. Names
// in that form mean the same topic on every backend. A backend with
// hierarchical names may accept more of them, as '/'-separated segments of
// the same characters with an optional "domain://" prefix (Pulsar's
// "tenant/namespace/topic" and "persistent://tenant/namespace/topic"); the
// others reject them. Backends add their own limits on top.
//
// The error wraps ErrInvalidTopic and says what is wrong with the name.
func ValidateTopic(name string) error {
	invalid := func(format string, args ...any) error {
		shown := name
		if len(shown) > 64 {
			shown = shown[:64] + "..."
		}
		return fmt.Errorf("%w: %q: %s (portable names are 1 to %d characters of A-Z a-z 0-9 . _ -)",
			ErrInvalidTopic, shown, fmt.Sprintf(format, args...), MaxTopicLength)
	}
	if flatTopic(name) {
		return nil // the common case, in one pass
	}
	if name == "" {
		return invalid("empty")
	}
	if len(name) > MaxTopicLength {
		return invalid("%d bytes long, more than %d", len(name), MaxTopicLength)
	}
	path := name
	if domain, rest, ok := strings.Cut(name, "://"); ok {
		if domain == "" || strings.Trim(domain, "abcdefghijklmnopqrstuvwxyz-") != "" {
			return invalid("%q is not a domain such as persistent://", domain+"://")
		}
		path = rest
	}
	for segment := range strings.SplitSeq(path, "/") {
		switch segment {
		case "":
			return invalid("empty segment between '/'")
		case ".", "..":
			return invalid("%q is not a name", segment)
		}
	}
	for i, r := range path {
		if !portableTopicRune(r) && r != '/' {
			if r == utf8.RuneError {
				return invalid("byte %d is not valid UTF-8", len(name)-len(path)+i)
			}
			return invalid("character %q at byte %d is not allowed", r, len(name)-len(path)+i)
		}
	}
	return nil
}

// flatTopic reports whether name is a valid name of one segment.
func flatTopic(name string) bool {
	if name == "" || len(name) > MaxTopicLength || name == "." || name == ".." {
		return false
	}
	for i := range len(name) {
		if !portableTopicRune(rune(name[i])) {
			return false
		}
	}
	return true
}

func portableTopicRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-'
}
