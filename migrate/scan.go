package migrate

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/syncserver/syncserver/syncstore"
)

// nullStr scans a nullable text or binary column (syncstore.NullText,
// shared with the native store).
type nullStr = syncstore.NullText

// nullInt scans a nullable integer column into an *int64.
type nullInt struct{ p *int64 }

func (n *nullInt) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.p = nil
		return nil
	case int64:
		n.p = &v
		return nil
	case uint64: // an unsigned column in the binary protocol
		if v > math.MaxInt64 {
			return fmt.Errorf("integer column holds %d", v)
		}
		i := int64(v)
		n.p = &i
		return nil
	case []byte:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("integer column holds %q", v)
		}
		n.p = &i
		return nil
	}
	return fmt.Errorf("unexpected %T for an integer column", src)
}

// decimal renders an integer column as the string the API carried
// (FSyncMS stores predecessorid in an INT column).
func (n *nullInt) decimal() *string {
	if n.p == nil {
		return nil
	}
	s := strconv.FormatInt(*n.p, 10)
	return &s
}

// secondsToTimestamp converts FSyncMS's DOUBLE seconds (2 decimals) to
// centiseconds; NULL becomes 0.
func secondsToTimestamp(f *float64) syncstore.Timestamp {
	if f == nil {
		return 0
	}
	return syncstore.Timestamp(math.Round(*f * 100))
}

// timestampToSeconds is the DOUBLE FSyncMS stores for ts: the double
// nearest to the two-decimal value, as PHP's round(microtime(true), 2).
func timestampToSeconds(ts syncstore.Timestamp) float64 {
	return float64(ts) / 100
}

// nullFloat scans a nullable DOUBLE.
type nullFloat struct{ p *float64 }

func (n *nullFloat) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.p = nil
		return nil
	case float64:
		n.p = &v
		return nil
	case float32:
		f := float64(v)
		n.p = &f
		return nil
	case int64:
		f := float64(v)
		n.p = &f
		return nil
	case []byte:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return fmt.Errorf("float column holds %q", v)
		}
		n.p = &f
		return nil
	}
	return fmt.Errorf("unexpected %T for a float column", src)
}

// sha2Hex decodes the hex text of MySQL's SHA2(x, 256); NULL stays nil.
func sha2Hex(n nullStr) (*Digest, error) {
	if n.P == nil {
		return nil, nil
	}
	var d Digest
	if len(*n.P) != 2*len(d) {
		return nil, fmt.Errorf("SHA2() returned %d characters", len(*n.P))
	}
	if _, err := hex.Decode(d[:], []byte(*n.P)); err != nil {
		return nil, fmt.Errorf("SHA2() returned non-hex text: %w", err)
	}
	return &d, nil
}
