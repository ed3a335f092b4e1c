package bus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// FuzzOpen opens arbitrary mem:// URLs: no panic, and every failure is an
// ErrInvalidURL error that does not show the URL's password.
func FuzzOpen(f *testing.F) {
	for _, seed := range []string{"mem://", "mem://?retention=5", "mem://?retention=5;max_message_bytes=1", "mem://?retention=%zz",
		"mem://host/path", "mem://u:pw@/", "mem://?bogus=1", "mem:///?max_message_bytes=-1", "mem", "://", "mem://%41"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b, err := bus.Open(context.Background(), raw)
		if err == nil {
			require.NoError(t, b.Close(context.Background()))
			return
		}
		require.True(t, errors.Is(err, bus.ErrInvalidURL), "%q: %v", raw, err)
	})
}
