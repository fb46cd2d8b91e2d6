package memcache

import "strconv"

// keys builds memcached keys. Every key starts with the configured prefix;
// user ids are decimal, so keys never need escaping.
type keys struct {
	prefix string
	epoch  string
}

func newKeys(prefix string) keys {
	return keys{prefix: prefix, epoch: prefix + "epoch"}
}

func (k keys) user(kind string, userID int64) string {
	b := make([]byte, 0, len(k.prefix)+len(kind)+21)
	b = append(b, k.prefix...)
	b = append(b, kind...)
	b = append(b, ':')
	b = strconv.AppendInt(b, userID, 10)
	return string(b)
}

// gen is the user's generation counter.
func (k keys) gen(userID int64) string { return k.user("gen", userID) }

// stamps holds the cached CollectionTimestamps.
func (k keys) stamps(userID int64) string { return k.user("info", userID) }

// usage holds the cached CollectionUsage.
func (k keys) usage(userID int64) string { return k.user("usage", userID) }

// record holds one cached record (or its absence).
func (k keys) record(userID int64, r cachedRecord) string {
	return k.user("rec:"+r.collection+"/"+r.id, userID)
}

// ttlFlag is set once the user wrote a record with a TTL.
func (k keys) ttlFlag(userID int64) string { return k.user("ttl", userID) }

// recordTTLFlag is set once the user wrote a cached record with a TTL.
func (k keys) recordTTLFlag(userID int64) string { return k.user("recttl", userID) }

// cachedRecord names a record whose GetRecord is cached: the ones every
// client fetches at the start of every sync.
type cachedRecord struct{ collection, id string }

var cachedRecords = [...]cachedRecord{{"meta", "global"}, {"crypto", "keys"}}

// isCachedRecord reports whether collection/id is one of cachedRecords.
func isCachedRecord(collection, id string) (cachedRecord, bool) {
	for _, r := range cachedRecords {
		if r.collection == collection && r.id == id {
			return r, true
		}
	}
	return cachedRecord{}, false
}
