package codec_test

import (
	"fmt"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Both codecs are bus.Codec implementations.
var (
	_ bus.Codec[shipment]                = codec.JSON[shipment]{}
	_ bus.Codec[*wrapperspb.StringValue] = codec.Protobuf[*wrapperspb.StringValue]{}
)

type shipment struct {
	ID      string            `json:"id"`
	Weight  float64           `json:"weight"`
	Items   []string          `json:"items"`
	Labels  map[string]string `json:"labels,omitempty"`
	Express bool              `json:"express"`
}

func TestJSONContentType(t *testing.T) {
	assert.Equal(t, "application/json", codec.JSON[shipment]{}.ContentType())
}

func TestJSONRoundTrip(t *testing.T) {
	c := codec.JSON[shipment]{}
	in := shipment{ID: "s-1", Weight: 2.5, Items: []string{"a", "ünï"}, Labels: map[string]string{"k": "v"}, Express: true}
	data, err := c.Encode(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"s-1","weight":2.5,"items":["a","ünï"],"labels":{"k":"v"},"express":true}`, string(data))

	out, err := c.Decode(data)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

func TestJSONRoundTripPointerAndScalar(t *testing.T) {
	p := codec.JSON[*shipment]{}
	data, err := p.Encode(&shipment{ID: "s-2"})
	require.NoError(t, err)
	out, err := p.Decode(data)
	require.NoError(t, err)
	require.NotNil(t, out)
	assert.Equal(t, "s-2", out.ID)

	n := codec.JSON[int]{}
	data, err = n.Encode(42)
	require.NoError(t, err)
	assert.Equal(t, "42", string(data))
	v, err := n.Decode(data)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
}

func TestJSONDecodeAcceptsUnknownFields(t *testing.T) {
	out, err := codec.JSON[shipment]{}.Decode([]byte(`{"id":"s-3","added_later":{"x":1}}`))
	require.NoError(t, err)
	assert.Equal(t, "s-3", out.ID)
}

func TestJSONDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"empty", ``},
		{"truncated", `{"id":"s-1"`},
		{"not JSON", `id=s-1`},
		{"wrong type", `{"weight":"heavy"}`},
		{"trailing garbage", `{"id":"s-1"} x`},
		{"two values", `{"id":"s-1"}{"id":"s-2"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := codec.JSON[shipment]{}.Decode([]byte(tt.data))
			assert.Error(t, err)
		})
	}
}

func TestJSONDecodeAllowsTrailingWhitespace(t *testing.T) {
	out, err := codec.JSON[shipment]{}.Decode([]byte("{\"id\":\"s-1\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, "s-1", out.ID)
}

func TestJSONEncodeError(t *testing.T) {
	_, err := codec.JSON[chan int]{}.Encode(make(chan int))
	assert.Error(t, err)
}

func TestProtobufContentType(t *testing.T) {
	assert.Equal(t, "application/protobuf", codec.Protobuf[*wrapperspb.StringValue]{}.ContentType())
}

func TestProtobufRoundTrip(t *testing.T) {
	c := codec.Protobuf[*wrapperspb.StringValue]{}
	in := wrapperspb.String("héllo ✓")
	data, err := c.Encode(in)
	require.NoError(t, err)
	require.NotEmpty(t, data)

	out, err := c.Decode(data)
	require.NoError(t, err)
	require.NotNil(t, out)
	assert.NotSame(t, in, out)
	assert.True(t, proto.Equal(in, out), "got %v", out)
}

func TestProtobufStructRoundTrip(t *testing.T) {
	c := codec.Protobuf[*structpb.Struct]{}
	in, err := structpb.NewStruct(map[string]any{"id": "s-1", "weight": 2.5, "items": []any{"a", true}, "nested": map[string]any{"x": nil}})
	require.NoError(t, err)
	data, err := c.Encode(in)
	require.NoError(t, err)
	out, err := c.Decode(data)
	require.NoError(t, err)
	assert.True(t, proto.Equal(in, out), "got %v", out)
}

func TestProtobufDecodeEmptyIsZeroMessage(t *testing.T) {
	out, err := codec.Protobuf[*wrapperspb.StringValue]{}.Decode(nil)
	require.NoError(t, err)
	require.NotNil(t, out, "a new message, not a nil pointer")
	assert.Empty(t, out.GetValue())
}

func TestProtobufEncodeIsDeterministic(t *testing.T) {
	// Go randomises map iteration, so a map-bearing message would encode
	// in varying key order without deterministic marshalling.
	fields := make(map[string]any)
	for i := range 64 {
		fields[fmt.Sprintf("field-%02d", i)] = float64(i)
	}
	c := codec.Protobuf[*structpb.Struct]{}
	first, err := structpb.NewStruct(fields)
	require.NoError(t, err)
	want, err := c.Encode(first)
	require.NoError(t, err)
	for i := range 20 {
		// An equal message built again, and the same one encoded again.
		again, err := structpb.NewStruct(fields)
		require.NoError(t, err)
		got, err := c.Encode(again)
		require.NoError(t, err)
		require.Equal(t, want, got, "encoding %d of an equal message", i)
		got, err = c.Encode(first)
		require.NoError(t, err)
		require.Equal(t, want, got, "encoding %d of the same message", i)
	}
}

func TestProtobufDecodeGarbage(t *testing.T) {
	for _, data := range [][]byte{
		{0xff, 0xff, 0xff},             // truncated varint tag
		{0x0a, 0x10, 'a'},              // field 1 claims 16 bytes, has 1
		{0x0a, 0x02, 0xff, 0xfe},       // string field that is not UTF-8
		[]byte("this is not protobuf"), // text
	} {
		out, err := codec.Protobuf[*wrapperspb.StringValue]{}.Decode(data)
		assert.Error(t, err, "% x", data)
		assert.Nil(t, out, "% x", data)
	}
}
