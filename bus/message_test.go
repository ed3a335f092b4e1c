package bus

import (
	"bytes"
	"io"
	"testing"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/assert"
)

func TestMessageAs(t *testing.T) {
	native := bytes.NewBufferString("native")
	m := &Message{receipt: driver.Receipt{Native: native}}

	var buf *bytes.Buffer
	assert.True(t, m.As(&buf))
	assert.Same(t, native, buf)

	var r io.Reader
	assert.True(t, m.As(&r), "an interface the native type implements")
	assert.Same(t, native, r)

	var s *string
	assert.False(t, m.As(&s), "type that does not match")
	assert.Nil(t, s)

	var w io.ByteScanner
	assert.True(t, m.As(&w))
	assert.Same(t, native, w)

	assert.False(t, m.As(nil), "nil target")
	assert.False(t, m.As((**bytes.Buffer)(nil)), "typed nil pointer target")
	assert.False(t, m.As(buf), "target that is not a pointer to the type")
	assert.False(t, m.As("not a pointer"), "non-pointer target")
}

func TestMessageAsWithoutNative(t *testing.T) {
	var buf *bytes.Buffer
	var anything any
	m := &Message{}
	assert.False(t, m.As(&buf))
	assert.False(t, m.As(&anything))
	assert.Nil(t, anything)
}
