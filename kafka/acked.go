package kafka

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// ackedPrefix marks commit metadata written by eventbus. The rest is the
// base64 of uvarint pairs (gap, length): runs of consecutive acked offsets
// above the committed offset, each gap counted from the end of the
// previous run (the first from the committed offset).
const ackedPrefix = "eventbus-acked:"

// maxAckedMetadata keeps commit metadata under the broker's default
// offset.metadata.max.bytes (4096). Runs that do not fit are left out:
// their offsets are handled again by the next owner, never lost.
const maxAckedMetadata = 3800

// maxDecodedAcked bounds what metadata from elsewhere can make us hold.
const maxDecodedAcked = 1 << 20

// encodeAcked encodes the ascending offsets acked above base, and returns
// how many of them, from the first, it encoded.
func encodeAcked(base int64, acked []int64) (string, int) {
	if len(acked) == 0 || base < 0 {
		return "", 0
	}
	var buf []byte
	limit := base64.RawURLEncoding.DecodedLen(maxAckedMetadata - len(ackedPrefix))
	end := base
	i := 0
	for i < len(acked) {
		start := acked[i]
		j := i + 1
		for j < len(acked) && acked[j] == acked[j-1]+1 {
			j++
		}
		if start < end {
			break // not ascending above base: nothing trustworthy to add
		}
		var run [2 * binary.MaxVarintLen64]byte
		n := binary.PutUvarint(run[:], uint64(start-end))
		n += binary.PutUvarint(run[n:], uint64(j-i))
		if len(buf)+n > limit {
			break
		}
		buf = append(buf, run[:n]...)
		end = start + int64(j-i)
		i = j
	}
	if len(buf) == 0 {
		return "", 0
	}
	return ackedPrefix + base64.RawURLEncoding.EncodeToString(buf), i
}

// decodeAcked is the inverse of encodeAcked; ok is false for metadata that
// eventbus did not write or that is damaged.
func decodeAcked(base int64, metadata string) (acked []int64, ok bool) {
	rest, found := strings.CutPrefix(metadata, ackedPrefix)
	if !found || base < 0 {
		return nil, false
	}
	buf, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, false
	}
	end := base
	for len(buf) > 0 {
		gap, n := binary.Uvarint(buf)
		if n <= 0 {
			return nil, false
		}
		length, m := binary.Uvarint(buf[n:])
		if m <= 0 || length == 0 || length > maxDecodedAcked-uint64(len(acked)) || gap > 1<<62 {
			return nil, false
		}
		buf = buf[n+m:]
		start := end + int64(gap)
		for o := start; o < start+int64(length); o++ {
			acked = append(acked, o)
		}
		end = start + int64(length)
	}
	return acked, true
}
