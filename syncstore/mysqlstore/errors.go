package mysqlstore

import (
	"errors"

	"github.com/go-sql-driver/mysql"
)

// Server error numbers the store reacts to.
const (
	errDuplicateKey          = 1062
	errUnknownSystemVariable = 1193
	errLockDeadlock          = 1213
)

// errorNumber is the MySQL error number carried by err, 0 for other errors
// (network failures, context cancellation).
func errorNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}
