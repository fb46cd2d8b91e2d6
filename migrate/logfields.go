package migrate

import (
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// userField names a user in the migrator's logs: hashed unless the
// logger is at debug level, as in the server's logs, so one user can be
// followed across both. The final summary still names users: it is the
// operator's report, not a log.
func (m *Migrator) userField(name string) zap.Field { return syncstore.UserField(m.log, name) }

func stringField(k, v string) zap.Field { return zap.String(k, v) }
