// Package httpapi serves the Firefox Sync 1.1 protocol over plain
// net/http: the Storage API 1.0/1.1 under /<1.0|1|1.1>/<user>/ and the
// User API 1.0 under /user/<1.0|1>/<user>, /misc/1.0/captcha_html and
// /__heartbeat__, on top of a syncstore.Store. It imports neither Caddy
// nor a SQL driver; the Caddy module wraps a Handler.
//
// Behaviour follows docs/protocol.md (its Decision lines and the §11
// checklist). Where the specification leaves the answer to us:
//
//   - Unknown paths answer 404 "not found" (text/plain), known paths with
//     another method 405 with Allow; neither is authenticated. Invalid
//     usernames do not match a route (404), invalid collection names are
//     400 body 13 after authentication.
//   - Every response carries X-Weave-Timestamp: the request's server time,
//     or for a write the timestamp the store committed, which is also the
//     body. An authenticated storage answer is never before the user's
//     last write (Store.UserTimestamp), whichever instance made it, so a
//     client's clock never goes back even when writes in one 10 ms tick
//     were stamped ahead of the clock. A metadata-only PUT of an existing record answers with the
//     record's unchanged modified (§6.7), in the header as in the body.
//   - Write refusals come in the Reference's order: a PUT is refused for
//     quota (14), then X-If-Unmodified-Since (412), before its body is
//     judged (6, 8); a POST for X-If-Unmodified-Since before its body and
//     for quota after its records were validated, even if none was
//     accepted.
//   - A batch element with an object or list in any field fails as
//     "invalid wbo" under the id "", like an element that is no object.
//     An element with an id that is not valid (too long, "/" or ",")
//     fails as "invalid id" under that id.
//   - Sizes in KB (info/collection_usage, the used part of info/quota,
//     X-Weave-Quota-Remaining) are always floats ("2.0"); the quota limit
//     is the configured KB.
//   - A record id in the URL that no record can have (over 64 bytes,
//     non-printable, "/" or ","): PUT 400 body 8, GET 404, DELETE 200.
//   - A missing record is 404 with the JSON string "record not found".
//   - Bad query values and a non-numeric X-If-Unmodified-Since are 400
//     body 1; a body over MaxRequestBytes is 400 body 17 and nothing is
//     written; a body that breaks off while being read is 400 body 1.
//   - Request bodies in memory are bounded server-wide (BodyBudgetBytes):
//     a request that finds no room within BodyWait gets 503 with
//     Retry-After and X-Weave-Backoff of 10 s ("server issue: too many
//     uploads in progress").
//   - A batch POST in which no record is accepted writes nothing and
//     answers with the request's server time (X-If-Unmodified-Since still
//     applies).
//   - Store failures are 503 with Retry-After and X-Weave-Backoff and a
//     JSON string "server issue: …"; panics likewise. Never 500.
//   - Closed registration, and addresses missing from the allowlist, get
//     400 body 3 ("invalid username": this name cannot be registered
//     here); the mode is checked before anything else, the allowlist after
//     the e-mail checks. Passwords longer than bcrypt's 72 bytes are
//     refused like weak ones (400 body 9); a new password that is not
//     UTF-8 is treated as missing (400 body 7).
//   - The strict username check (error 15) accepts the username derived
//     with IDNA (UsernameFromEmail, as the Reference) and without it (as
//     Firefox computes it); they differ only for internationalised domains.
//   - There is no password-reset back-end: GET …/password_reset is 503
//     without back-off headers (Firefox would stop syncing on them), a
//     reset code on POST …/password is always 400 body 10, DELETE
//     …/password_reset authenticates and answers "success", and
//     /weave-password-reset is 404.
//   - Failed logins are throttled (AuthThrottleConfig): a throttled
//     username gets the usual 401 plus Retry-After, a throttled client
//     address 503 with Retry-After and X-Weave-Backoff ("server issue:
//     too many failed logins"); neither checks the password. A name in
//     the credentials that differs from the URL's is not counted: no
//     password was checked.
//   - node/weave answers Config.PublicURL, or scheme://Host/ of the request
//     when it is empty (JSON null without a Host header).
//   - Runs of slashes in a path count as one ("//1.1/<user>/…", as the web
//     servers in front of the PHP servers passed it on), as does one
//     trailing slash.
//
// A request is parsed once (ParseRequest) into a Request that a router in
// front of the Handler (the migration shim), metrics and logs share;
// ServeRequest serves it. The shim's own answers, for users it does not
// hand to the Handler, are the Handler's: Unavailable and ServeNodeURL.
package httpapi
