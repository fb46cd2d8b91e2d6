package syncstore

import (
	"crypto/sha256"
	"encoding/binary"
)

// Bucket is the user's canary bucket, 0–99: the first two bytes of
// SHA-256(lower-case username), big-endian, modulo 100. It is stable
// across processes and releases, so "--canary 5%" always names the same
// users (buckets 0–4) and the shim can use the same function.
func Bucket(username string) int {
	sum := sha256.Sum256([]byte(NormalizeUsername(username)))
	return int(binary.BigEndian.Uint16(sum[:2]) % 100)
}
