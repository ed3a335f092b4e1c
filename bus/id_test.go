package bus

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewIDIsUUIDv7(t *testing.T) {
	now := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 5*3600))
	id := newID(now)

	u, err := uuid.Parse(id)
	require.NoError(t, err)
	assert.Equal(t, uuid.Version(7), u.Version())
	assert.Equal(t, uuid.RFC4122, u.Variant())
	assert.Equal(t, u.String(), id, "canonical lower-case form")

	sec, nsec := u.Time().UnixTime()
	assert.Equal(t, time.UnixMilli(now.UnixMilli()), time.Unix(sec, nsec), "embedded time is the given time to the millisecond")
}

func TestNewIDEmbeddedTimeAcrossEras(t *testing.T) {
	for _, now := range []time.Time{
		time.UnixMilli(0),
		time.UnixMilli(1),
		time.Date(2000, 1, 1, 0, 0, 0, 999_999_999, time.UTC),
		time.Date(2100, 12, 31, 23, 59, 59, 123_456_789, time.UTC),
	} {
		u, err := uuid.Parse(newID(now))
		require.NoError(t, err)
		assert.Equal(t, uuid.Version(7), u.Version(), "%v", now)
		sec, nsec := u.Time().UnixTime()
		assert.Equal(t, now.UnixMilli(), time.Unix(sec, nsec).UnixMilli(), "%v", now)
	}
}

func TestNewIDUnique(t *testing.T) {
	// All at the same instant: uniqueness rests on the random bits alone.
	now := time.Now()
	const n = 100_000
	seen := make(map[string]struct{}, n)
	for range n {
		seen[newID(now)] = struct{}{}
	}
	assert.Len(t, seen, n)
}

func TestNewIDSortsByTime(t *testing.T) {
	start := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 2000 {
		// Whole milliseconds, with a varying sub-millisecond part, across
		// byte boundaries of the timestamp.
		now := start.Add(time.Duration(i*i) * time.Millisecond).Add(time.Duration(i%1000) * time.Microsecond)
		ids = append(ids, newID(now))
	}
	assert.True(t, slices.IsSorted(ids), "IDs made at increasing milliseconds sort in time order")

	// Within one millisecond, the sub-millisecond bits order them too, at
	// their 1/4096 ms resolution.
	ids = ids[:0]
	for i := range 4096 / 16 {
		ids = append(ids, newID(start.Add(time.Duration(i*16*1e6/4096+1)*time.Nanosecond)))
	}
	assert.True(t, slices.IsSorted(ids), "sub-millisecond order")
}
