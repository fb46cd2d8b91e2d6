package mysqlstore

import (
	"context"
	"database/sql"

	"go.uber.org/zap"
)

// InnoDB writes every change to its redo log first and may only reuse the
// log once the pages it describes are flushed; when the unflushed part
// nears the log's size, it flushes pages in a hurry and writes wait for it.
// The native server's uploads fill a small log quickly: in the bench mix
// (syncserver-benchlocal, 20 accounts × 1,000 records) on a 2-core box,
// MariaDB wrote about 30 KB of redo per request and 37 MB/s, so the
// 96 MiB that MariaDB 10.5 to 11 ship with stayed 70-80 MiB full and the
// POST p99 at 4 clients was 31-38 ms, against 19-20 ms with 1 GiB (two
// runs each, alternated). The server's setting is the operator's, so the
// store only says so once at start.

// smallRedoLog is the innodb_log_file_size below which Open warns.
const smallRedoLog = 256 << 20

// checkRedoLog warns when the MariaDB server's redo log is small for the
// store's write rate. It reads an advisory setting: when it cannot, it
// says so at debug level and Open goes on.
func checkRedoLog(ctx context.Context, db *sql.DB, log *zap.Logger) {
	if log == nil {
		return
	}
	var size int64
	if err := db.QueryRowContext(ctx, "SELECT @@innodb_log_file_size").Scan(&size); err != nil {
		log.Debug("could not read innodb_log_file_size", zap.Error(err))
		return
	}
	if size < smallRedoLog {
		log.Warn("MariaDB's InnoDB redo log is small for sustained uploads: writes stall while InnoDB flushes to reuse it (POST p99 about doubled in the bench); set innodb_log_file_size = 1G in the server's configuration (MariaDB 10.9 and later also take SET GLOBAL innodb_log_file_size = 1073741824 without a restart), see README \"MariaDB server settings\"",
			zap.Int64("innodb_log_file_size", size), zap.Int64("recommended", 1<<30))
	}
}
