package syncstore

// DefaultQuotaBytes is the payload bytes a user may store unless the
// server's quota_bytes says otherwise: the Reference server's quota_size
// of 5120 KB. The migrate tool checks legacy users against it, since the
// legacy PHP servers had no quota.
const DefaultQuotaBytes int64 = 5 << 20
