package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// BenchmarkDecodeBatch100 is the JSON work of a 100-record POST of
// Firefox-like records (encrypted payloads are JSON inside JSON), without
// the store: what postCollection and writeBatch do before PutRecords.
func BenchmarkDecodeBatch100(b *testing.B) {
	payload := `{"ciphertext":"` + strings.Repeat("A", 240) + `","IV":"aXZpdml2aXZpdml2aXY=","hmac":"` + strings.Repeat("f", 16) + `"}`
	recs := make([]string, 100)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"id":"h%07d","sortindex":%d,"payload":%q}`, i, i, payload)
	}
	body := []byte("[" + strings.Join(recs, ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		data := bytes.TrimSpace(body)
		if !json.Valid(data) {
			b.Fatal("invalid")
		}
		n := 0
		forEachElement(data, func(elem []byte) {
			if _, derr := syncstore.DecodeValidWBO(elem, syncstore.DefaultMaxPayload); derr != nil {
				b.Fatal(derr)
			}
			n++
		})
		if n != 100 {
			b.Fatal(n)
		}
	}
}
