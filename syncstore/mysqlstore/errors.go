package mysqlstore

import (
	"errors"

	"github.com/go-sql-driver/mysql"
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
