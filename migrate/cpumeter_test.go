package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuMeter counts the CPU time a benchmark costs this process and the
// MariaDB server (when it runs on this machine and its pid file is
// readable). On a shared machine, CPU per record is the figure that
// moves least with the load of others; wall-clock records/s does not.
type cpuMeter struct {
	db        *sql.DB
	status    map[string]int64
	serverPid int
	self      time.Duration
	server    time.Duration
}

// newCPUMeter finds the server's process through its pid file.
func newCPUMeter(ctx context.Context, db *sql.DB) *cpuMeter {
	m := &cpuMeter{db: db}
	var pidFile string
	if err := db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&pidFile); err == nil {
		if b, err := os.ReadFile(pidFile); err == nil {
			m.serverPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	return m
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the server's user+system time from /proc (clock ticks of
// 1/100 s on Linux), 0 when unknown.
func (m *cpuMeter) serverCPU() time.Duration {
	if m.serverPid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(m.serverPid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name, which may hold spaces: state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// serverStatus reads the server's global counters that tell where its
// time goes: statements, commits, log flushes, page reads from disk.
func (m *cpuMeter) serverStatus() map[string]int64 {
	out := map[string]int64{}
	rows, err := m.db.Query(`SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_commit', 'Com_begin', 'Com_insert',
		'Com_select', 'Com_update', 'Com_stmt_execute', 'Com_stmt_prepare', 'Innodb_os_log_fsyncs', 'Innodb_data_fsyncs',
		'Innodb_buffer_pool_reads', 'Innodb_buffer_pool_read_requests', 'Innodb_rows_read', 'Innodb_rows_inserted',
		'Innodb_rows_updated', 'Innodb_data_written', 'Innodb_os_log_written', 'Innodb_buffer_pool_pages_flushed', 'Bytes_received', 'Bytes_sent')`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int64
		if rows.Scan(&k, &v) == nil {
			out[k] = v
		}
	}
	return out
}

func (m *cpuMeter) start() {
	if os.Getenv("MIGRATE_BENCH_STATUS") != "" {
		m.status = m.serverStatus()
	}
	m.self, m.server = selfCPU(), m.serverCPU()
}

// logStatus logs the server's counters since start, per record
// (MIGRATE_BENCH_STATUS=1, with -v).
func (m *cpuMeter) logStatus(b *testing.B, records int64) {
	if m.status == nil || records == 0 {
		return
	}
	now := m.serverStatus()
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s=%d (%.3f/rec)", k, now[k]-m.status[k], float64(now[k]-m.status[k])/float64(records))
	}
	b.Logf("server status since start:%s", sb.String())
}

// stop adds what ran since start to the totals in *self and *server.
func (m *cpuMeter) stop(self, server *time.Duration) {
	*self += selfCPU() - m.self
	*server += m.serverCPU() - m.server
}

// report puts the CPU per record next to a benchmark's records/s.
func reportCPU(b *testing.B, records int64, self, server time.Duration) {
	if records == 0 {
		return
	}
	b.ReportMetric(float64(self.Microseconds())/float64(records), "go-cpu-us/rec")
	if server > 0 {
		b.ReportMetric(float64(server.Microseconds())/float64(records), "mdb-cpu-us/rec")
	}
}
