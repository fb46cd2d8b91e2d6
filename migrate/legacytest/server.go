package legacytest

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// ServerOptions configure the FSyncMS stand-in. The zero value is an
// install with md5 passwords, registration off and tables wbo/users.
type ServerOptions struct {
	// Prefix names the tables <Prefix>_wbo and <Prefix>_users, as the
	// forks with a table prefix do (Layout.Prefix); "" means wbo, users.
	Prefix string
	// Root is FSYNCMS_ROOT, e.g. "http://127.0.0.1:8081/". node/weave
	// answers it with the port dropped; a path in it is where the
	// server is mounted.
	Root string
	// EnableRegister is ENABLE_REGISTER: PUT /user/1.0/<u> creates accounts.
	EnableRegister bool
	// BcryptCost 0 stores md5 hex like installs before 2013; 4..31 is
	// BCRYPT=true with BCRYPT_ROUNDS: $2a$ hashes, md5 ones upgraded on login.
	BcryptCost int
	// Clock replaces time.Now.
	Clock func() time.Time
	// Logger receives the database errors answered with 503 (nil: none).
	Logger *zap.Logger
}

// server is FSyncMS's index.php and user.php over one database.
type server struct {
	db         *sql.DB
	opts       ServerOptions
	wbo, users string // quoted table names
	node       string // node/weave answer
	base       string // Root's path without the trailing slash
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_]*$`)

// NewServer serves FSyncMS (docs/legacy.md §1) from db, whose tables are
// those CreateSchema makes for Layout{Variant: FSyncMS, Prefix:
// opts.Prefix}. It panics on a prefix that is not a plain identifier or a
// bcrypt cost bcrypt refuses, as those are mistakes in the calling test.
func NewServer(db *sql.DB, opts ServerOptions) http.Handler {
	if !prefixRE.MatchString(opts.Prefix) {
		panic(fmt.Sprintf("legacytest: table prefix %q is not [A-Za-z0-9_]*", opts.Prefix))
	}
	if opts.BcryptCost != 0 && (opts.BcryptCost < 4 || opts.BcryptCost > 31) {
		panic(fmt.Sprintf("legacytest: bcrypt cost %d outside 4..31", opts.BcryptCost))
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	l := Layout{Variant: FSyncMS, Prefix: opts.Prefix}
	s := &server{db: db, opts: opts, wbo: "`" + l.WboTable(0) + "`", users: "`" + l.UsersTable() + "`", node: opts.Root}
	if u, err := url.Parse(opts.Root); err == nil && u.Host != "" {
		// setup.php built FSYNCMS_ROOT from SERVER_NAME, which has no port.
		host := u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		u.Host = host
		s.node = u.String()
		s.base = strings.TrimSuffix(u.Path, "/")
	}
	return s
}

// call is one request being answered.
type call struct {
	log        *zap.Logger
	w          http.ResponseWriter
	r          *http.Request
	ts         float64 // round(microtime(true), 2)
	user       string  // as typed in the URL
	collection string
	id         string
}

// send writes the whole answer; PHP buffered it the same way.
func (c *call) send(status int, body []byte) {
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	c.w.Write(body)
}

// problem is report_problem(): the status and the message JSON-encoded.
func (c *call) problem(status int, msg any) {
	if status == http.StatusUnauthorized {
		c.w.Header().Set("WWW-Authenticate", `Basic realm="Weave"`)
	}
	if status == http.StatusServiceUnavailable {
		c.w.Header().Set("X-Weave-Backoff", "1800")
	}
	c.send(status, jsonValue(msg))
}

// unavailable answers a database failure as FSyncMS's exception handler.
func (c *call) unavailable(err error) {
	c.log.Error("answering 503", zap.String("method", c.r.Method), zap.String("path", c.r.URL.Path), zap.Error(err))
	c.problem(http.StatusServiceUnavailable, "Database unavailable")
}

// silent drops the errors MariaDB raises for a statement (strict mode
// refusing a value, a duplicate key): PDO's default ERRMODE_SILENT made
// FSyncMS ignore them, so those writes vanish with a 200. Connection
// failures still count.
func silent(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return nil
	}
	return err
}

func (s *server) now() float64 {
	ns := s.opts.Clock().UnixNano()
	return float64((ns+5_000_000)/10_000_000) / 100
}

func setType(w http.ResponseWriter, t string) { w.Header().Set("Content-Type", t) }

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{log: s.opts.Logger, w: w, r: r, ts: s.now()}
	w.Header().Set("X-Weave-Timestamp", phpFloat(c.ts, 14))
	// PHP's own default until the script sets application/json.
	setType(w, "text/html; charset=UTF-8")

	path := strings.TrimPrefix(r.URL.Path, s.base)
	if path == "" || path == "/" {
		c.problem(http.StatusNotFound, "No path found")
		return
	}
	path = path[1:]
	if !truthy(path) {
		c.problem(http.StatusBadRequest, "Invalid request, this was not a firefox sync request!")
		return
	}
	seg := strings.Split(path+"///", "/")
	for len(seg) < 6 {
		seg = append(seg, "")
	}
	if seg[0] == "user" || seg[0] == "misc" {
		s.serveUser(c, seg)
		return
	}
	setType(w, "application/json")
	version, function := seg[0], seg[2]
	c.user, c.collection, c.id = seg[1], seg[3], seg[4]
	switch {
	case version != "1.0" && version != "1.1":
		c.problem(http.StatusNotFound, "Function not found")
		return
	case function != "info" && function != "storage":
		c.problem(http.StatusBadRequest, 11)
		return
	case !validName(c.user, false):
		c.problem(http.StatusBadRequest, 3)
		return
	case truthy(c.collection) && !validName(c.collection, true):
		c.problem(http.StatusBadRequest, 13)
		return
	case !truthy(c.collection) && r.Method != http.MethodDelete,
		function != "storage" && r.Method != http.MethodGet:
		c.problem(http.StatusBadRequest, 1)
		return
	}
	if !s.verifyUser(c) {
		return
	}
	var err error
	switch {
	case r.Method == http.MethodGet && function == "info":
		err = s.info(c)
	case r.Method == http.MethodGet && truthy(c.id):
		err = s.getItem(c)
	case r.Method == http.MethodGet:
		err = s.getCollection(c)
	case r.Method == http.MethodPut:
		err = s.put(c)
	case r.Method == http.MethodPost:
		err = s.post(c)
	case r.Method == http.MethodDelete:
		err = s.delete(c, function)
	default:
		c.problem(http.StatusBadRequest, 1)
	}
	if err != nil {
		c.unavailable(err)
	}
}

// validName is validate_username (1–32 of [A-Za-z0-9._-]) and, with
// collection, validate_collection, which also allows "?" and "=".
func validName(s string, collection bool) bool {
	if !truthy(s) || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || collection && (c == '?' || c == '=')
		if !ok {
			return false
		}
	}
	return true
}
