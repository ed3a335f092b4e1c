package bus_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

func TestValidateTopicAcceptsPortableNames(t *testing.T) {
	for _, name := range []string{
		"orders", "orders.payments.dlq", "Orders_2-b", "a", strings.Repeat("x", bus.MaxTopicLength),
		"tenant/namespace/orders", "persistent://tenant/namespace/orders", "non-persistent://t/n/x", "..x", "x..",
	} {
		assert.NoError(t, bus.ValidateTopic(name), name)
	}
}

func TestValidateTopicNamesTheProblem(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", "empty"},
		{"with space", `character ' ' at byte 4`},
		{"hash#tag", `character '#' at byte 4`},
		{"a:b", `character ':' at byte 1`},
		{"star*", `character '*' at byte 4`},
		{"café", `character 'é' at byte 3`},
		{"bad\xffutf8", "byte 3 is not valid UTF-8"},
		{strings.Repeat("x", 300), "300 bytes long, more than 249"},
		{"a//b", "empty segment"},
		{"/a", "empty segment"},
		{"a/", "empty segment"},
		{".", `"." is not a name`},
		{"..", `".." is not a name`},
		{"://a", `"://" is not a domain`},
		{"Persistent://t/n/a", `"Persistent://" is not a domain`},
		{"persistent://t/n/a b", `character ' ' at byte 18`},
	} {
		err := bus.ValidateTopic(tc.name)
		require.ErrorIs(t, err, bus.ErrInvalidTopic, tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
		assert.ErrorContains(t, err, "A-Z a-z 0-9 . _ -", "the error states the rule")
	}
}

func FuzzValidateTopic(f *testing.F) {
	for _, seed := range []string{"orders", "persistent://t/n/x", "a b", "café", "", "a//b", "://"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := bus.ValidateTopic(name)
		if err != nil {
			require.ErrorIs(t, err, bus.ErrInvalidTopic)
			return
		}
		// Whatever passes is short, non-empty and made of portable bytes.
		require.NotEmpty(t, name)
		require.LessOrEqual(t, len(name), bus.MaxTopicLength)
		for _, r := range strings.ReplaceAll(name, "://", "/") {
			require.True(t, r < 128 && r != ' ' && r != '#' && r != ':' && r != '*', "%q", name)
		}
	})
}
