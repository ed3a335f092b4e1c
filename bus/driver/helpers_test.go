package driver_test

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

func TestCloseFlagClosesOnce(t *testing.T) {
	var f driver.CloseFlag
	require.False(t, f.IsClosed())
	var firsts sync.WaitGroup
	won := make(chan bool, 8)
	for range 8 {
		firsts.Go(func() { won <- f.Close() })
	}
	firsts.Wait()
	close(won)
	n := 0
	for w := range won {
		if w {
			n++
		}
	}
	assert.Equal(t, 1, n, "exactly one Close is the first")
	assert.True(t, f.IsClosed())
}

func TestClosed(t *testing.T) {
	ch := make(chan struct{})
	assert.False(t, driver.Closed(ch))
	assert.False(t, driver.Closed(nil))
	close(ch)
	assert.True(t, driver.Closed(ch))
}

func TestURLShape(t *testing.T) {
	withHost := driver.URLShape{Host: true, User: true, Want: "x://host:port"}
	noHost := driver.URLShape{Want: "y://?param=value"}
	for _, tc := range []struct {
		shape driver.URLShape
		url   string
		want  string // "" for no error
	}{
		{withHost, "x://h:1,h:2", ""},
		{withHost, "x://h:1/", ""},
		{withHost, "x://user:secret@h:1", ""},
		{withHost, "x://", "no host (want x://host:port)"},
		{withHost, "x://h:1/some/path", `unexpected path "/some/path"`},
		{noHost, "y://", ""},
		{noHost, "y:///?a=b", ""},
		{noHost, "y://somehost", `takes no host, got "somehost"`},
		{noHost, "y://user:secret@/", "user info is not supported"},
		{noHost, "y:///path", `unexpected path "/path"`},
	} {
		u, err := url.Parse(tc.url)
		require.NoError(t, err)
		err = tc.shape.Check(u)
		if tc.want == "" {
			assert.NoError(t, err, tc.url)
			continue
		}
		assert.ErrorIs(t, err, driver.ErrInvalidURL, tc.url)
		assert.ErrorContains(t, err, tc.want, tc.url)
		if err != nil {
			assert.NotContains(t, err.Error(), "secret")
		}
	}
}

func TestUnknownOption(t *testing.T) {
	err := driver.UnknownOption(42)
	assert.ErrorIs(t, err, driver.ErrUnsupported)
	assert.True(t, errors.Is(err, errors.ErrUnsupported))
	assert.ErrorContains(t, err, "unknown driver option int")
}

func TestEphemeralGroupIsUnique(t *testing.T) {
	a, b := driver.EphemeralGroup(), driver.EphemeralGroup()
	assert.NotEqual(t, a, b)
	assert.True(t, strings.HasPrefix(a, "eventbus-ephemeral-"), a)
}
