package httpapi

// ShareLimits makes h use from's failed-login throttle and request body
// budget, so that the handlers of one site over several stores (native
// shards, each its own Handler) count a guessing address once and bound
// the bodies held in memory once, not once per store. h takes from's
// settings for both. Call it before h serves requests.
func (h *Handler) ShareLimits(from *Handler) {
	h.throttle = from.throttle
	h.budget = from.budget
	h.userShares = from.userShares
	h.bodyWait = from.bodyWait
}
