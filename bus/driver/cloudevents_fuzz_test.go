package driver_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// FuzzDecodeHeader decodes arbitrary wire headers, as any producer may send
// them: no panic, every header lands somewhere, a value as bytes decodes
// as the same string, and a message encoded by EncodeHeaders decodes back
// to itself.
func FuzzDecodeHeader(f *testing.F) {
	f.Add("ce_time", "2026-01-02T03:04:05.123456789Z", "id-1", "x-user", "v")
	f.Add("ce_time", "not a time", "", "ce_type", "eventbus.message")
	f.Add("ce_specversion", "1.0", "01a22b0a", "ce_source", "")
	f.Add("content-type", "application/json", "\x00", "", "\xff")
	f.Fuzz(func(t *testing.T, key, value, id, userKey, userValue string) {
		var m driver.Message
		driver.DecodeHeader(&m, key, value)
		switch {
		case key == driver.HeaderID:
			require.Equal(t, value, m.ID)
		case key == driver.HeaderSpecVersion:
			require.Empty(t, m.Header)
		case key == driver.HeaderTime && !m.Time.IsZero():
			require.Empty(t, m.Header)
		case key == driver.HeaderType && value == driver.DefaultType, key == driver.HeaderSource && value == driver.DefaultSource:
			require.Empty(t, m.Header)
		default:
			require.Equal(t, value, m.Header[key], "header %q kept", key)
		}
		var fromBytes driver.Message
		driver.DecodeHeader(&fromBytes, key, []byte(value))
		require.Equal(t, m, fromBytes, "the value as bytes decodes as the string")

		// Round trip: what EncodeHeaders writes, DecodeHeader reads back.
		sent := driver.Message{ID: id, Time: time.Unix(0, int64(len(value))*1e9+int64(len(id))).UTC()}
		switch userKey {
		case driver.HeaderID, driver.HeaderTime, driver.HeaderSpecVersion, "":
		default:
			if !(userKey == driver.HeaderType && userValue == driver.DefaultType) &&
				!(userKey == driver.HeaderSource && userValue == driver.DefaultSource) {
				sent.Header = map[string]string{userKey: userValue}
			}
		}
		var got driver.Message
		driver.EncodeHeaders(&sent, func(k, v string) { driver.DecodeHeader(&got, k, v) })
		require.Equal(t, sent.ID, got.ID)
		require.True(t, sent.Time.Equal(got.Time), "time %v came back as %v", sent.Time, got.Time)
		require.Equal(t, sent.Header, got.Header)
	})
}
