//go:build !linux

package testservices

import "errors"

// Listeners needs Linux's /proc/net/tcp; elsewhere it reports that.
func Listeners(port int) (int, error) {
	return 0, errors.New("counting listeners needs /proc/net/tcp (Linux)")
}
