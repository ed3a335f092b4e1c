package bus

import (
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// newID returns a UUIDv7 string: 48 bits of Unix milliseconds, 12 bits of
// sub-millisecond time (RFC 9562, section 6.2, method 3) and 62 random
// bits, so IDs sort by creation time. It makes one allocation, the string,
// where uuid.NewV7 makes two.
func newID(now time.Time) string {
	var id uuid.UUID
	ms := uint64(now.UnixMilli())
	subMs := uint64(now.Nanosecond()%1e6) * 4096 / 1e6
	random := rand.Uint64()
	id[0], id[1], id[2], id[3], id[4], id[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	id[6] = 0x70 | byte(subMs>>8) // version 7
	id[7] = byte(subMs)
	id[8] = 0x80 | byte(random>>56)&0x3f // variant 10
	id[9], id[10], id[11], id[12], id[13], id[14], id[15] = byte(random>>48), byte(random>>40), byte(random>>32), byte(random>>24), byte(random>>16), byte(random>>8), byte(random)
	return id.String()
}
