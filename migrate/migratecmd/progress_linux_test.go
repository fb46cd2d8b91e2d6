package migratecmd

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/syncserver/syncserver/migrate/legacytest"
)

// openPTY opens a pseudo-terminal: what the command writes to slave, a
// terminal, is read from master.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlocking the pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("reading the pty number: %v", e)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestCommandBarOnTerminal runs migrate with standard error on a real
// terminal: it draws the bar (the library's, with the run's counters)
// and no per-user log lines; the summary still goes to standard output.
func TestCommandBarOnTerminal(t *testing.T) {
	master, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Fatal("a pty slave is not taken for a terminal")
	}
	var tty bytes.Buffer
	copied := make(chan struct{})
	go func() {
		// Reading until the slave closes (EIO) keeps the pty from filling.
		io.Copy(&tty, master)
		close(copied)
	}()

	dsn, _ := legacyFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS})
	c := caddycmd.Commands()["migrate"]
	cmd := &cobra.Command{Use: c.Name}
	c.CobraFunc(cmd)
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(slave)
	cmd.SetArgs([]string{"--all", "--create", "--legacy-dsn", dsn, "--data", t.TempDir(), "--drain", "1ms", "--lease", "5s", "--memcached", "off"})
	cmd.SilenceUsage = true
	err := cmd.ExecuteContext(context.Background())
	slave.Close()
	<-copied
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, tty.String())
	}
	got := tty.String()
	for _, want := range []string{"100% |████████████████████████|", "(4/4, ", "0 failed · 350 records"} { // 200 + 3×50 {
		if !strings.Contains(got, want) {
			t.Errorf("terminal lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "info") || strings.Contains(got, "migrated user") {
		t.Errorf("per-user log lines on the terminal:\n%q", got)
	}
	if !strings.Contains(stdout.String(), "migrated  4") {
		t.Errorf("summary:\n%s", stdout.String())
	}
}
