package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// shellSession is one bash process fed commands step by step, as an
// operator types them into one terminal: variables, exports, the working
// directory and background jobs carry over from one step to the next.
//
// The script reaches bash on fd 4, not on its standard input, which is
// /dev/null: a command that reads stdin cannot swallow the steps after it.
// bash runs in its own process group so that everything it started,
// background servers included, can be killed at the end.
type shellSession struct {
	cmd    *exec.Cmd
	script *os.File      // write end of fd 4
	lines  chan string   // stdout and stderr, merged
	exited chan struct{} // closed once bash has exited and its output is read
	err    error         // bash's exit, valid once exited is closed
	steps  int
}

// startShell starts bash -euo pipefail in dir with env; extra files become
// fds 3, 5, … of bash and of everything it starts (fd 4 is the script).
func startShell(dir string, env []string, extra ...*os.File) (*shellSession, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, outW, err := os.Pipe()
	if err != nil {
		w.Close()
		return nil, err
	}
	defer outW.Close()
	files := []*os.File{nil, r}
	if len(extra) > 0 {
		files = []*os.File{extra[0], r}
		files = append(files, extra[1:]...)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "/dev/fd/4")
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		out.Close()
		return nil, fmt.Errorf("starting bash: %w", err)
	}
	s := &shellSession{cmd: cmd, script: w, lines: make(chan string, 1024), exited: make(chan struct{})}
	go func() {
		// The pipe's write end is also held by background jobs bash
		// started (a server with its output redirected holds none), so
		// read until bash exits rather than until EOF.
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		out.Close()
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// run sends code as the next step and returns what it printed once it has
// finished. A command that fails ends bash (set -e): run then returns the
// output so far and an error with bash's exit status.
func (s *shellSession) run(ctx context.Context, code string) (string, error) {
	s.steps++
	end := fmt.Sprintf("@@walkthrough step %d done", s.steps)
	// The newline after the step closes a here-document or a line
	// continuation the step might have left open by mistake, so that the
	// end mark is never swallowed.
	if _, err := io.WriteString(s.script, code+"\necho '"+end+"'\n"); err != nil {
		return "", fmt.Errorf("writing to bash: %w (exited: %v)", err, s.err)
	}
	var out strings.Builder
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				<-s.exited
				return out.String(), fmt.Errorf("bash exited before the end of the step: %v", s.err)
			}
			if before, ok := strings.CutSuffix(line, end); ok {
				out.WriteString(before) // the last output had no newline
				return out.String(), nil
			}
			out.WriteString(line)
			out.WriteByte('\n')
		case <-s.exited:
			// Drain what bash printed before it exited (a background job
			// holding the pipe would keep it open: wait only briefly).
			for {
				select {
				case line, ok := <-s.lines:
					if before, found := strings.CutSuffix(line, end); ok && found {
						out.WriteString(before)
						return out.String(), nil
					}
					if ok {
						out.WriteString(line)
						out.WriteByte('\n')
						continue
					}
				case <-time.After(time.Second):
				}
				return out.String(), fmt.Errorf("bash exited before the end of the step: %v", s.err)
			}
		case <-ctx.Done():
			return out.String(), fmt.Errorf("step unfinished: %w", ctx.Err())
		}
	}
}

// close ends the script, then kills bash's process group (background jobs
// the steps left running) and waits for bash.
func (s *shellSession) close() {
	s.script.Close()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}
