package childproc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/childproc"
	"github.com/scar-dev/scar/internal/dockertest"
)

func TestEnvKeepsOnlyWhatAChildNeeds(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "LANGUAGE=en",
		"DOCKER_HOST=unix:///x.sock", "DOCKER_CONFIG=/cfg", "COMPOSE_PROJECT_NAME=p",
		"SCAR_API_TOKENS=full", "SCAR_TELEGRAM_TOKEN=1:bot", "SCAR_TELEGRAM_WEBHOOK_SECRET=s",
		"SCAR_COMPOSE_COMMAND=docker compose", "AWS_SECRET_ACCESS_KEY=aws", "DATABASE_URL=pg://",
		"USER=root", "DOCKER_=odd", "malformed", "LC_=odd",
	}
	got := childproc.Env(environ, "DOCKER_HOST=tcp://h:2376")
	want := []string{
		"PATH=/usr/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "LANGUAGE=en",
		"DOCKER_HOST=unix:///x.sock", "DOCKER_CONFIG=/cfg", "COMPOSE_PROJECT_NAME=p",
		"DOCKER_HOST=tcp://h:2376",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Env:\n got %q\nwant %q", got, want)
	}
	for _, kv := range got {
		if strings.HasPrefix(kv, "SCAR_") {
			t.Errorf("a child gets %s", kv)
		}
	}
}

func TestCommandGetsTheFilteredEnvironment(t *testing.T) {
	cmd := childproc.Command(t.Context(), t.TempDir(), []string{"PATH=" + os.Getenv("PATH"), "SCAR_API_TOKENS=secret", "HOME=/h"}, []string{"DOCKER_HOST=unix:///d"}, "env")
	var out strings.Builder
	cmd.Stdout = &out
	if err := childproc.Run(cmd); err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out.String())
	slices.Sort(got)
	want := []string{"DOCKER_HOST=unix:///d", "HOME=/h", "PATH=" + os.Getenv("PATH")}
	if !slices.Equal(got, want) {
		t.Fatalf("the child's environment:\n got %q\nwant %q", got, want)
	}
}

// TestCancelKillsTheChildsWholeGroup: a child that started children of its own (as
// `docker compose` starts the Compose plugin) is killed with all of them when its
// context ends, and Run returns at once.
func TestCancelKillsTheChildsWholeGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cmd := childproc.Command(ctx, t.TempDir(), os.Environ(), nil, "sh", "-c", "sleep 300 & echo $$ $!; wait")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- childproc.Run(cmd) }()
	var pgid, grandchild int
	if _, err := fmt.Fscan(bufio.NewReader(stdout), &pgid, &grandchild); err != nil {
		t.Fatalf("reading the child's and the grandchild's pids: %v", err)
	}
	if g, err := syscall.Getpgid(grandchild); err != nil || g != pgid {
		t.Fatalf("grandchild %d is in group %d (%v), want the child's own group %d", grandchild, g, err, pgid)
	}
	if own, _ := syscall.Getpgid(0); own == pgid {
		t.Fatal("the child shares the test's process group")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a killed child reported success")
		}
	case <-time.After(childproc.WaitDelay + 5*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	t.Logf("Run returned %v after cancel", time.Since(start).Round(time.Millisecond))
	waitGone(t, grandchild)
	waitGroupGone(t, pgid)
}

// TestChildDiesWithItsParent: a process that started a child through childproc and
// is then killed with SIGKILL — no clean-up of its own runs — leaves no child behind.
// The parent is this test binary run again as a helper (see TestMain).
func TestChildDiesWithItsParent(t *testing.T) {
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	var child int
	if _, err := fmt.Fscan(bufio.NewReader(stdout), &child); err != nil {
		t.Fatalf("reading the child's pid from the helper: %v", err)
	}
	if err := syscall.Kill(child, 0); err != nil {
		t.Fatalf("the helper's child %d does not run: %v", child, err)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	waitGone(t, child)
}

// TestComposeDiesWithItsParent: the same with the real Compose tool, running a command
// that never ends by itself (`events`): when the process that started it is killed,
// nothing of the tool's process group is left — with Compose v2 that includes the
// plugin the docker CLI started.
func TestComposeDiesWithItsParent(t *testing.T) {
	compose := dockertest.ComposeCommand()
	if len(compose) == 0 {
		t.Skip("no Compose tool")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte("services:\n  idle:\n    image: scar-childproc-test-never-built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"=1", helperDirEnv+"="+dir,
		helperArgvEnv+"="+strings.Join(append(compose, "-p", dockertest.UniqueName(t, "childproc"), "events"), "\x1f"))
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	var child int
	if _, err := fmt.Fscan(bufio.NewReader(stdout), &child); err != nil {
		t.Fatalf("reading the child's pid from the helper: %v", err)
	}
	// Let the tool get going: every process of its group (v2: the docker CLI and the
	// plugin it started) has opened a socket (v2's plugin first connects to the CLI's
	// socket, through which it learns that the CLI died; killed before that, it would
	// be left running — the kernel's Pdeathsig reaches the process scar started only).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !(len(groupMembers(child)) >= len(compose) && allHaveSockets(child)) {
		time.Sleep(50 * time.Millisecond)
	}
	members := groupMembers(child)
	t.Logf("the Compose tool's group before the kill: %v", members)
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	waitGone(t, child)
	defer func() { t.Logf("the group after: %v", groupMembers(child)) }()
	waitGroupGone(t, child)
}

// allHaveSockets reports whether every process of group pgid has a socket open.
func allHaveSockets(pgid int) bool {
	for _, m := range groupMembers(pgid) {
		pid, _ := strconv.Atoi(strings.Fields(m)[0])
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		found := false
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); strings.HasPrefix(l, "socket:") {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// groupMembers lists the live processes of process group pgid, as "pid command".
func groupMembers(pgid int) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && running(pid) {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			out = append(out, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm))))
		}
	}
	return out
}

const (
	helperEnv     = "CHILDPROC_TEST_HELPER"
	helperArgvEnv = "CHILDPROC_TEST_ARGV"
	helperDirEnv  = "CHILDPROC_TEST_DIR"
)

// TestMain runs the helper of TestChildDiesWithItsParent when asked: start `sleep`
// through childproc from a goroutine that is not the main one (as scar does), print
// its pid, and block until killed.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "" {
		os.Exit(m.Run())
	}
	argv := []string{"sleep", "300"}
	if a := os.Getenv(helperArgvEnv); a != "" {
		argv = strings.Split(a, "\x1f")
	}
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		dir = "/"
	}
	cmd := childproc.Command(context.Background(), dir, os.Environ(), nil, "sh", append([]string{"-c", `echo $$; exec "$@"`, "sh"}, argv...)...)
	cmd.Stdout = os.Stdout
	errc := make(chan error, 1)
	go func() { errc <- childproc.Run(cmd) }()
	fmt.Fprintln(os.Stderr, "helper: the child ended:", <-errc)
	os.Exit(3)
}

// waitGone polls until pid no longer runs (gone, or a zombie nobody reaped yet).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if !running(pid) {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still runs 10s later", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members 10s later", pgid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether pid is a live process: it exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
