package syncstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func strp(s string) *string { return &s }
func intp(n int64) *int64   { return &n }

func TestDecodeWBO(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxPayload)
	cases := []struct {
		in     string
		want   *WBO
		reason string
		failID string
	}{
		{in: `{"id":"abc","payload":"p"}`, want: &WBO{ID: "abc", Payload: strp("p")}},
		{in: ` {"id":12,"sortindex":"7","ttl":"60","modified":5} `, want: &WBO{ID: "12", SortIndex: intp(7), TTL: intp(60)}},
		{in: `{"id":"a","sortindex":-3.9,"ttl":10.7,"parentid":"p","predecessorid":4}`,
			want: &WBO{ID: "a", SortIndex: intp(-3), TTL: intp(10), ParentID: strp("p"), PredecessorID: strp("4")}},
		{in: `{"id":"a","payload":null,"sortindex":null,"unknown":true}`, want: &WBO{ID: "a"}},
		{in: `{"id":"x","id":"y"}`, want: &WBO{ID: "y"}},
		{in: `{"id":"a\u0062","payload":"\u00e9\n<&>"}`, want: &WBO{ID: "ab", Payload: strp("é\n<&>")}},
		{in: `{"ID":"a"}`, reason: ReasonInvalidID},
		{in: `{"id":"{6820f3ca-6e8a}"}`, want: &WBO{ID: "{6820f3ca-6e8a}"}},
		{in: `{"id":"a","payload":` + `"` + big + `"}`, want: &WBO{ID: "a", Payload: &big}},
		{in: `[]`, reason: ReasonInvalidWBO},
		{in: `"x"`, reason: ReasonInvalidWBO},
		{in: `{"id":"a",}`, reason: ReasonInvalidWBO},
		{in: `{"id":"a","x":{}}`, reason: ReasonInvalidWBO, failID: "a"},
		{in: `{"x":{"id":"b"},"id":"a","payload":["p",{"q":"]"}]}`, reason: ReasonInvalidWBO, failID: "a"},
		{in: `{"x":[]}`, reason: ReasonInvalidWBO},
		{in: `{}`, reason: ReasonInvalidID},
		{in: `{"id":true}`, reason: ReasonInvalidID},
		{in: `{"id":"a/b"}`, reason: ReasonInvalidID, failID: "a/b"},
		{in: `{"id":"a,b"}`, reason: ReasonInvalidID, failID: "a,b"},
		// An over-long id still names the failure: the client must learn
		// which of its records was refused.
		{in: `{"id":"` + strings.Repeat("i", 65) + `"}`, reason: ReasonInvalidID, failID: strings.Repeat("i", 65)},
		{in: `{"id":` + strings.Repeat("7", 70) + `}`, reason: ReasonInvalidID, failID: strings.Repeat("7", 70)},
		{in: `{"id":"a","parentid":"` + strings.Repeat("p", 65) + `"}`, reason: ReasonInvalidParentID, failID: "a"},
		{in: `{"id":"a","predecessorid":false}`, reason: ReasonInvalidPredID, failID: "a"},
		{in: `{"id":"a","ttl":-1}`, reason: ReasonInvalidTTL, failID: "a"},
		{in: `{"id":"a","ttl":31536001}`, reason: ReasonInvalidTTL, failID: "a"},
		{in: `{"id":"a","ttl":"1.5"}`, reason: ReasonInvalidTTL, failID: "a"},
		{in: `{"id":"a","sortindex":1000000000}`, reason: ReasonInvalidSortIndex, failID: "a"},
		{in: `{"id":"a","sortindex":"abc"}`, reason: ReasonInvalidSortIndex, failID: "a"},
		{in: `{"id":"a","sortindex":999999999}`, want: &WBO{ID: "a", SortIndex: intp(999999999)}},
		{in: `{"id":"a","payload":5}`, reason: ReasonPayloadNotString, failID: "a"},
		{in: `{"id":"a","payload":"` + big + `x"}`, reason: ReasonPayloadTooLarge, failID: "a"},
	}
	for _, c := range cases {
		got, derr := DecodeWBO([]byte(c.in), DefaultMaxPayload)
		name := c.in
		if len(name) > 60 {
			name = name[:60]
		}
		if c.reason != "" {
			if derr == nil || derr.Reason != c.reason || derr.ID != c.failID {
				t.Errorf("%s: got %+v, want failure %q keyed %q", name, derr, c.reason, c.failID)
			}
			continue
		}
		if derr != nil {
			t.Errorf("%s: unexpected failure %q", name, derr.Reason)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", name, got, c.want)
		}
	}
}

// decodeViaMap is the straightforward decoding through encoding/json that
// DecodeWBO's scanner must agree with.
func decodeViaMap(raw []byte, maxPayload int) (*WBO, *DecodeError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, k := range []string{"id", "parentid", "predecessorid", "ttl", "sortindex", "payload"} {
		if v, ok := fields[k]; ok {
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(`"` + k + `":`)
			b.Write(v)
		}
	}
	for _, v := range fields {
		if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			return nil, &DecodeError{ID: idOf(fields["id"]), Reason: ReasonInvalidWBO}
		}
	}
	b.WriteByte('}')
	return DecodeWBO([]byte(b.String()), maxPayload)
}

func FuzzDecodeWBO(f *testing.F) {
	for _, s := range []string{
		`{"id":"abc","payload":"p","sortindex":3,"ttl":5}`,
		`{"id":1.5e3,"parentid":null}`,
		`{"id":"a\"b","payload":"\ud83d\ude00"}`,
		`{"id":"a","x":[1,{"y":2}],"payload":"z"}`,
		`{"id" : "a" , "payload" : "b" }`,
		`{"id":"a","id":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gerr := DecodeWBO(raw, 64)
		if !json.Valid(raw) {
			if gerr == nil {
				t.Fatalf("invalid JSON %q accepted", raw)
			}
			return
		}
		// The upload path validates a body once and decodes its records
		// with DecodeValidWBO, which must answer the same.
		vgot, verr := DecodeValidWBO(raw, 64)
		if !reflect.DeepEqual(vgot, got) || !reflect.DeepEqual(verr, gerr) {
			t.Fatalf("%q: DecodeValidWBO %+v/%v, DecodeWBO %+v/%v", raw, vgot, verr, got, gerr)
		}
		want, werr := decodeViaMap(raw, 64)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: scanner %+v/%v, map %+v/%v", raw, got, gerr, want, werr)
		}
		if gerr != nil {
			if gerr.Reason != werr.Reason || gerr.ID != werr.ID {
				t.Fatalf("%q: reason %q vs %q", raw, gerr.Reason, werr.Reason)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v vs %+v", raw, got, want)
		}
		// What DecodeWBO accepts must survive output and decoding again.
		got.Modified = 0
		again, derr := DecodeWBO(got.AppendJSON(nil), 64)
		if derr != nil || again.ID != got.ID || !reflect.DeepEqual(again.Payload, got.Payload) {
			t.Fatalf("%q: round trip lost data: %+v", raw, derr)
		}
	})
}

// FuzzUnquote: the string decoder agrees with encoding/json on every
// valid string literal.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{
		`""`, `"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u20AC"`, `"\ud83d\ude00"`,
		`"\ud83d"`, `"\ude00\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", "\"\xed\xa0\x80\"",
		`"{\"ciphertext\":\"abc\",\"IV\":\"x==\"}"`, "\"\xef\xbf\xbd\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, lit []byte) {
		lit = bytes.TrimSpace(lit) // literals reach jsonString without space
		if !json.Valid(lit) || len(lit) == 0 || lit[0] != '"' {
			return
		}
		var want string
		if err := json.Unmarshal(lit, &want); err != nil {
			t.Fatalf("%q: %v", lit, err)
		}
		got, ok := jsonString(lit)
		if !ok || got != want {
			t.Fatalf("%q: got %q, %v; encoding/json says %q", lit, got, ok, want)
		}
	})
}

// decodeItemViaMap is how a PUT body was decoded before it was validated
// once: through a map, then DecodeWBO on the body with the URL id
// appended. DecodeValidItem must agree with it.
func decodeItemViaMap(body []byte, id string, maxPayload int) (*WBO, bool) {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, false
	}
	if raw, ok := fields["id"]; ok && string(raw) != "null" {
		var bodyID string
		switch c := raw[0]; {
		case c == '"':
			if err := json.Unmarshal(raw, &bodyID); err != nil {
				return nil, false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			bodyID = string(raw)
		default:
			return nil, false
		}
		if bodyID != id {
			return nil, false
		}
	}
	inner := bytes.TrimSpace(body[1 : len(body)-1])
	withID := append([]byte{'{'}, inner...)
	if len(inner) > 0 {
		withID = append(withID, ',')
	}
	withID = append(withID, `"id":`...)
	withID = AppendJSONString(withID, id)
	withID = append(withID, '}')
	rec, derr := DecodeWBO(withID, maxPayload)
	return rec, derr == nil
}

func FuzzDecodeValidItem(f *testing.F) {
	for _, s := range []struct{ body, id string }{
		{`{"payload":"x","sortindex":3}`, "a"},
		{`{"id":"a","payload":"x"}`, "a"},
		{`{"id":"b","payload":"x"}`, "a"},
		{`{"id":12,"payload":"x"}`, "12"},
		{`{"id":null,"ttl":"5"}`, "a"},
		{`{"id":true}`, "a"},
		{`{"id":{},"payload":"x"}`, "a"},
		{`{"id":"a","id":[1]}`, "a"},
		{`{"x":[],"payload":"x"}`, "a"},
		{` {} `, "a"},
		{`[]`, "a"},
		{`{"\u0069d":"b"}`, "a"},
	} {
		f.Add([]byte(s.body), s.id)
	}
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		if !json.Valid(body) || !ValidID(id) {
			return
		}
		got, derr := DecodeValidItem(body, id, 64)
		want, ok := decodeItemViaMap(body, id, 64)
		if (derr == nil) != ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q as %q: DecodeValidItem %+v/%v, via map %+v/%v", body, id, got, derr, want, ok)
		}
	})
}

func TestTimestamp(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Timestamp
		text string
	}{
		{"1300000000", 130000000000, "1300000000.00"},
		{"1300000000.5", 130000000050, "1300000000.50"},
		{"1278109839.90", 127810983990, "1278109839.90"},
		{"1.3e9", 130000000000, "1300000000.00"},
		{"-1.05", -105, "-1.05"},
		{"0.07", 7, "0.07"},
	} {
		got, err := ParseTimestamp(c.in)
		if err != nil || got != c.want || got.String() != c.text {
			t.Errorf("ParseTimestamp(%q) = %d %q %v, want %d %q", c.in, got, got.String(), err, c.want, c.text)
		}
	}
	for _, bad := range []string{"", "abc", "NaN", "Inf", "1e300", "0x10"} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) accepted", bad)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", "quote\"back\\slash", "ctl\x01\x1f\n\t\r", "<&>", "é😀", "\u2028\u2029", "bad\xffutf8"} {
		out := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q produced invalid JSON %s: %v", s, out, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("%q round-tripped to %q", s, back)
		}
	}
}

func BenchmarkDecodeWBO(b *testing.B) {
	raw := []byte(`{"id":"aBcDeFgHiJkL","sortindex":140,"payload":"{\"ciphertext\":\"` + strings.Repeat("A", 240) + `\",\"IV\":\"abcdefghijklmnopqrstuv==\",\"hmac\":\"0123456789abcdef\"}"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, derr := DecodeWBO(raw, DefaultMaxPayload); derr != nil {
			b.Fatal(derr)
		}
	}
}
