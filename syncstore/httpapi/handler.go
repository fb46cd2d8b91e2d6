package httpapi

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/syncserver/syncserver/syncstore"
)

// Handler serves the Storage API 1.0/1.1 and the User API 1.0. It is safe
// for concurrent use.
type Handler struct {
	store  syncstore.Store
	auth   *syncstore.Authenticator
	logger *zap.Logger
	clock  func() time.Time

	publicURL    string
	registration RegistrationMode
	// allowUsers holds the usernames admitted in allowlist mode (e-mail
	// entries mapped through UsernameFromEmail); allowEmails the
	// lower-cased e-mail entries themselves.
	allowUsers  map[string]struct{}
	allowEmails map[string]struct{}
	allowPlain  bool
	captcha     *captcha
	secret      string

	quota          int64
	maxPostRecords int
	maxPostBytes   int
	maxPayload     int
	maxRequest     int64
	budget         *semaphore.Weighted // request body bytes in memory
	userShares     *userShares         // each user's part of budget
	bodyWait       time.Duration
	retryAfter     string // whole seconds, as sent

	throttle   *throttle // nil: failed logins are not limited
	clientAddr func(*http.Request) string

	buffers bufferPool
	// stamps recycles the slices info/collections reads into.
	stamps sync.Pool
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuring the sync protocol handler: %w", err)
	}
	h := &Handler{
		store:          cfg.Store,
		auth:           cfg.Auth,
		logger:         cfg.Logger,
		clock:          cfg.Clock,
		publicURL:      cfg.PublicURL,
		registration:   cfg.Registration,
		allowPlain:     cfg.AllowPlainUsernames,
		secret:         cfg.SharedSecret,
		quota:          cfg.QuotaBytes,
		maxPostRecords: cfg.MaxPostRecords,
		maxPostBytes:   cfg.MaxPostBytes,
		maxPayload:     cfg.MaxPayloadBytes,
		maxRequest:     cfg.MaxRequestBytes,
		budget:         semaphore.NewWeighted(cfg.BodyBudgetBytes),
		userShares:     newUserShares(cfg.BodyBudgetBytes, cfg.MaxRequestBytes),
		bodyWait:       cfg.BodyWait,
		retryAfter:     secondsText(cfg.RetryAfter),
		clientAddr:     cfg.ClientAddr,
	}
	th, err := newThrottle(cfg.AuthThrottle)
	if err != nil {
		return nil, fmt.Errorf("configuring the sync protocol handler: %w", err)
	}
	h.throttle = th
	if cfg.Registration == RegistrationAllowlist {
		h.allowUsers = make(map[string]struct{}, len(cfg.Allowlist))
		h.allowEmails = make(map[string]struct{}, len(cfg.Allowlist))
		for _, entry := range cfg.Allowlist {
			h.allowUsers[UsernameFromEmail(entry)] = struct{}{}
			if !syncstore.ValidUsername(entry) {
				h.allowEmails[lowerEmail(entry)] = struct{}{}
			}
		}
	}
	if cfg.Captcha != nil {
		h.captcha = newCaptcha(*cfg.Captcha)
	}
	return h, nil
}

// ServeHTTP answers every request itself: unknown paths get 404, known
// paths with other methods 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := ParseRequest(r)
	h.ServeRequest(w, r, &q)
}

// ServeRequest is ServeHTTP for a caller that has parsed r already; q
// must be ParseRequest(r).
func (h *Handler) ServeRequest(w http.ResponseWriter, r *http.Request, q *Request) {
	// Every response carries the server time, errors included (docs/protocol.md
	// §4.1 decision); writes replace it with their commit timestamp.
	now := syncstore.TimestampFromTime(h.clock())
	w.Header().Set(headerTimestamp, now.String())
	rt := q.rt
	defer h.recoverPanic(w, r, &rt)
	if r.ContentLength > h.maxRequest {
		// No answer reads this body, whichever it is (a 401 included).
		closeAfterAnswer(w, r)
	}

	if rt.kind == routeUnknown || (rt.kind == routeCaptcha && h.captcha == nil) {
		sendNotFound(w)
		return
	}
	if !rt.allows(r.Method) {
		sendMethodNotAllowed(w, &rt)
		return
	}
	switch rt.kind {
	case routeHeartbeat:
		send(w, http.StatusOK, typeText, nil)
	case routeInfo, routeStorage, routeCollection, routeItem:
		h.serveStorage(w, r, &rt, now)
	case routeUser:
		switch r.Method {
		case http.MethodGet:
			h.userExists(w, r, &rt)
		case http.MethodPut:
			h.createUser(w, r, &rt)
		default:
			h.deleteUser(w, r, &rt)
		}
	case routeUserNode:
		h.userNode(w, r, &rt)
	case routeUserPassword:
		h.changePassword(w, r, &rt)
	case routeUserReset:
		if r.Method == http.MethodGet {
			h.requestPasswordReset(w, r, &rt)
		} else {
			h.cancelPasswordReset(w, r, &rt)
		}
	case routeUserEmail:
		h.changeEmail(w, r, &rt)
	case routeCaptcha:
		send(w, http.StatusOK, typeHTML, h.captcha.page)
	}
}

// serveStorage authenticates a storage request and dispatches it.
func (h *Handler) serveStorage(w http.ResponseWriter, r *http.Request, rt *route, now syncstore.Timestamp) {
	u := h.authenticate(w, r, rt)
	if u == nil {
		return
	}
	if rt.kind == routeInfo && rt.info == infoCollections {
		if ls, ok := h.store.(syncstore.LastStamper); ok {
			// The timestamps come with the user's, in one read.
			h.infoCollections(w, r, rt, u, ls, now)
			return
		}
	}
	if rt.kind == routeItem && r.Method == http.MethodGet && syncstore.ValidCollection(rt.collection) && syncstore.ValidID(rt.id) {
		if rs, ok := h.store.(syncstore.RecordStamper); ok {
			// The user's timestamp comes with the record, in one read.
			h.getItemAndLast(w, r, rt, u, rs, now)
			return
		}
	}
	if rt.kind == routeCollection && r.Method == http.MethodGet && syncstore.ValidCollection(rt.collection) {
		if ls, ok := h.store.(syncstore.ListStamper); ok {
			// The user's timestamp comes with the records.
			h.getCollectionAndLast(w, r, rt, u, ls, now)
			return
		}
	}
	if rt.kind != routeInfo && writeMethod(r.Method) {
		// A committed write answers with its own timestamp: the user's
		// last write is read only if the answer carries none.
		w = &lateStamp{ResponseWriter: w, h: h, r: r, rt: *rt, u: u, now: now}
	} else {
		var ok bool
		if now, ok = h.userNow(w, r, rt, u, now); !ok {
			return
		}
	}
	if rt.kind == routeCollection || rt.kind == routeItem {
		if !syncstore.ValidCollection(rt.collection) {
			sendBadRequest(w, errInvalidColl)
			return
		}
	}
	switch rt.kind {
	case routeInfo:
		h.serveInfo(w, r, rt, u)
	case routeStorage:
		if r.Method == http.MethodPut {
			// The Reference's placeholder route: a PUT needs a collection.
			sendBadRequest(w, errIllegalMethod)
			return
		}
		h.deleteStorage(w, r, rt, u)
	case routeCollection:
		switch r.Method {
		case http.MethodGet:
			h.getCollection(w, r, rt, u)
		case http.MethodDelete:
			h.deleteCollection(w, r, rt, u)
		default:
			h.postCollection(w, r, rt, u, now)
		}
	case routeItem:
		switch r.Method {
		case http.MethodGet:
			h.getItem(w, r, rt, u)
		case http.MethodDelete:
			h.deleteItem(w, r, rt, u)
		default:
			h.putItem(w, r, rt, u)
		}
	}
}
