package driver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type wireHeader struct{ key, value string }

// encode returns the wire headers EncodeHeaders writes for m, in order.
func encode(m *driver.Message) []wireHeader {
	var hs []wireHeader
	driver.EncodeHeaders(m, func(k, v string) { hs = append(hs, wireHeader{k, v}) })
	return hs
}

func wireMap(t *testing.T, hs []wireHeader) map[string]string {
	t.Helper()
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		_, dup := m[h.key]
		require.False(t, dup, "header %q written twice", h.key)
		m[h.key] = h.value
	}
	return m
}

func decode(hs []wireHeader) *driver.Message {
	var m driver.Message
	for _, h := range hs {
		driver.DecodeHeader(&m, h.key, h.value)
	}
	return &m
}

func TestHeadersRoundTrip(t *testing.T) {
	zone := time.FixedZone("IST", 5*3600+30*60)
	in := &driver.Message{
		ID:   "0190a6e2-6b1c-7d3e-8f00-123456789abc",
		Time: time.Date(2025, 7, 1, 9, 30, 15, 123456789, zone),
		Header: map[string]string{
			"content-type": "application/json",
			"ce_type":      "com.example.order.created",
			"ce_source":    "/orders",
			"trace":        "00-abc-def-01",
			"grüße":        "日本語 ✓",
			"empty":        "",
		},
	}

	wire := wireMap(t, encode(in))
	assert.Equal(t, driver.SpecVersion, wire[driver.HeaderSpecVersion])
	assert.Equal(t, in.ID, wire[driver.HeaderID])
	assert.Equal(t, "2025-07-01T09:30:15.123456789+05:30", wire[driver.HeaderTime])

	out := decode(encode(in))
	assert.Equal(t, in.ID, out.ID)
	assert.True(t, in.Time.Equal(out.Time), "time %v came back as %v", in.Time, out.Time)
	assert.Equal(t, in.Time.UnixNano(), out.Time.UnixNano())
	assert.Equal(t, in.Header, out.Header)
}

func TestHeadersDefaultTypeAndSource(t *testing.T) {
	in := &driver.Message{ID: "id-1", Time: time.Unix(1_700_000_000, 5).UTC(), Header: map[string]string{"a": "b"}}

	wire := wireMap(t, encode(in))
	assert.Equal(t, driver.DefaultType, wire[driver.HeaderType], "ce_type is required by CloudEvents")
	assert.Equal(t, driver.DefaultSource, wire[driver.HeaderSource], "ce_source is required by CloudEvents")
	assert.Len(t, wire, 6)
	assert.Equal(t, map[string]string{"a": "b"}, in.Header, "encoding does not change the message")

	out := decode(encode(in))
	assert.Equal(t, map[string]string{"a": "b"}, out.Header, "the defaults are implied, not shown")
	assert.True(t, in.Time.Equal(out.Time))
}

func TestHeadersNoUserHeaders(t *testing.T) {
	in := &driver.Message{ID: "id-1", Time: time.Unix(0, 1)}
	wire := encode(in)
	assert.Equal(t, []string{driver.HeaderSpecVersion, driver.HeaderID, driver.HeaderTime, driver.HeaderType, driver.HeaderSource},
		keys(wire), "CloudEvents attributes come first")
	out := decode(wire)
	assert.Nil(t, out.Header, "nothing to keep, no map made")
	assert.Equal(t, "id-1", out.ID)
	assert.True(t, in.Time.Equal(out.Time))
}

func TestHeadersAttributesFirst(t *testing.T) {
	in := &driver.Message{ID: "id", Header: map[string]string{"x": "1", "y": "2"}}
	got := keys(encode(in))
	require.Len(t, got, 7)
	assert.Equal(t, []string{driver.HeaderSpecVersion, driver.HeaderID, driver.HeaderTime, driver.HeaderType, driver.HeaderSource}, got[:5])
	assert.ElementsMatch(t, []string{"x", "y"}, got[5:])
}

func keys(hs []wireHeader) []string {
	ks := make([]string, len(hs))
	for i, h := range hs {
		ks[i] = h.key
	}
	return ks
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct {
		name       string
		key, value string
		wantHeader map[string]string
	}{
		{"default type dropped", driver.HeaderType, driver.DefaultType, nil},
		{"default source dropped", driver.HeaderSource, driver.DefaultSource, nil},
		{"explicit type kept", driver.HeaderType, "com.example.x", map[string]string{"ce_type": "com.example.x"}},
		{"explicit source kept", driver.HeaderSource, "urn:x", map[string]string{"ce_source": "urn:x"}},
		{"specversion never kept", driver.HeaderSpecVersion, "1.0", nil},
		{"other specversion never kept", driver.HeaderSpecVersion, "0.3", nil},
		{"unparsable time kept", driver.HeaderTime, "yesterday", map[string]string{"ce_time": "yesterday"}},
		{"other ce attribute kept", "ce_subject", "order-1", map[string]string{"ce_subject": "order-1"}},
		{"content-type kept", driver.HeaderContentType, "application/json", map[string]string{"content-type": "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m driver.Message
			driver.DecodeHeader(&m, tt.key, tt.value)
			assert.Equal(t, tt.wantHeader, m.Header)
			assert.True(t, m.Time.IsZero())
			assert.Empty(t, m.ID)
		})
	}
}

func TestDecodeHeaderIDAndTime(t *testing.T) {
	var m driver.Message
	driver.DecodeHeader(&m, driver.HeaderID, "abc")
	driver.DecodeHeader(&m, driver.HeaderTime, "2020-02-29T23:59:59.000000001-08:00")
	assert.Nil(t, m.Header)
	assert.Equal(t, "abc", m.ID)
	want := time.Date(2020, 3, 1, 7, 59, 59, 1, time.UTC)
	assert.True(t, want.Equal(m.Time), "got %v", m.Time)
}

// TestDecodeHeaderBytesCopiesOnlyWhatItKeeps: a driver reading header
// values as bytes pays no allocation for the constant attributes that every
// record carries, and the message keeps copies, not the driver's bytes.
func TestDecodeHeaderBytesCopiesOnlyWhatItKeeps(t *testing.T) {
	specVersion, typ, source := []byte(driver.SpecVersion), []byte(driver.DefaultType), []byte(driver.DefaultSource)
	var m driver.Message
	allocs := testing.AllocsPerRun(100, func() {
		driver.DecodeHeader(&m, driver.HeaderSpecVersion, specVersion)
		driver.DecodeHeader(&m, driver.HeaderType, typ)
		driver.DecodeHeader(&m, driver.HeaderSource, source)
	})
	assert.Zero(t, allocs)
	assert.Nil(t, m.Header)

	id, typ := []byte("id-1"), []byte("com.example.x")
	driver.DecodeHeader(&m, driver.HeaderID, id)
	driver.DecodeHeader(&m, driver.HeaderType, typ)
	id[0], typ[0] = 'X', 'X' // a driver may reuse its buffers
	assert.Equal(t, "id-1", m.ID)
	assert.Equal(t, map[string]string{driver.HeaderType: "com.example.x"}, m.Header)
}

func TestDecodeHeaderKeepsExistingHeader(t *testing.T) {
	m := driver.Message{Header: map[string]string{"a": "1"}}
	driver.DecodeHeader(&m, "b", "2")
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, m.Header)
}

func TestMessageErrorsCountsFailures(t *testing.T) {
	failure := errors.New("x")
	tests := []struct {
		errs driver.MessageErrors
		want string
	}{
		{driver.MessageErrors{nil, failure, nil, failure}, "2 of 4 messages failed"},
		{driver.MessageErrors{failure}, "1 of 1 messages failed"},
		{driver.MessageErrors{nil, nil, nil}, "0 of 3 messages failed"},
		{driver.MessageErrors{}, "0 of 0 messages failed"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.errs.Error())
	}
	var err error = driver.MessageErrors{nil, failure}
	var me driver.MessageErrors
	require.ErrorAs(t, err, &me)
	assert.Len(t, me, 2)
}

func TestHeadersUserCloudEventsFieldsDoNotOverride(t *testing.T) {
	m := &driver.Message{ID: "published", Time: time.Unix(1, 0).UTC(),
		Header: map[string]string{"ce_id": "user", "ce_specversion": "0.3", "ce_time": "yesterday", "x": "y"}}
	hs := encode(m)
	wire := wireMap(t, hs) // fails on a header written twice
	assert.Equal(t, "published", wire["ce_id"])
	assert.Equal(t, driver.SpecVersion, wire["ce_specversion"])
	got := decode(hs)
	assert.Equal(t, "published", got.ID)
	assert.True(t, m.Time.Equal(got.Time))
	assert.Equal(t, map[string]string{"x": "y"}, got.Header)
}
