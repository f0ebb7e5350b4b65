package main

// The fault rows of issue 14's acceptance, end to end: scar SIGKILLed while
// containers die, the Bot API down during a burst, the engine unreachable while
// containers die behind it.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/engineproxy"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// buildScar compiles scar for the tests that need a process they can SIGKILL.
func buildScar(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scar")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build scar: %v\n%s", err, out)
	}
	return bin
}

// scarProcess is `scar serve` run from the built binary.
type scarProcess struct {
	*server
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has ended
}

// startScarProcess runs bin serve with env added to the test's environment and
// waits until it listens; the test's end stops it if it still runs.
func startScarProcess(t *testing.T, bin string, env ...string) *scarProcess {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), append([]string{"SCAR_LISTEN_ADDR=127.0.0.1:0"}, env...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &scarProcess{server: &server{logs: logs}, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-p.exited
			t.Error("scar did not stop within 40s of SIGTERM")
		}
	})
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "scar serving" {
				p.url = "http://" + line.Addr
				return true
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("scar stopped at start:\n%s", logs.String())
		default:
		}
		return false
	})
	return p
}

// kill SIGKILLs the process and waits until it is gone.
func (p *scarProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("scar did not die of SIGKILL")
	}
}

// exitingServices runs n serving containers of service that exit with code 3 by
// themselves once flag (a file in dir, bind-mounted) exists, and returns their names.
func exitingServices(t *testing.T, project, service string, n int, dir, flag string) (ids, names []string) {
	t.Helper()
	cli := dockertest.Client(t)
	for i := 1; i <= n; i++ {
		id, name := runService(t, cli, project, service, i, dockertest.ContainerSpec{
			Env: []string{"EXIT_FILE=/flag/" + flag}, Binds: []string{dir + ":/flag:ro"}, Healthcheck: noHealthcheck})
		ids, names = append(ids, id), append(names, name)
	}
	return ids, names
}

// touch creates the flag file that makes the containers watching it exit.
func touch(t *testing.T, dir, flag string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, flag), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkOneIncidentEach checks that each container has exactly one incident in the
// state store, a died one.
func checkOneIncidentEach(t *testing.T, state, project string, containers []string) {
	t.Helper()
	count := map[string]int{}
	for _, in := range projectIncidents(t, state, project) {
		if in.Kind != store.KindDied {
			t.Errorf("incident %d of %s is %s, want died", in.ID, in.Container, in.Kind)
		}
		count[in.Container]++
	}
	for _, c := range containers {
		if count[c] != 1 {
			t.Errorf("%s has %d incidents, want 1", c, count[c])
		}
	}
	if len(count) != len(containers) {
		t.Errorf("incidents of %d containers, want %d: %v", len(count), len(containers), count)
	}
}

// TestAlertAcrossSIGKILL: containers die, scar (the built binary) is SIGKILLed, more
// die while it is down, and it restarts on the same state directory: every death is
// alerted exactly once, none lost, none twice.
func TestAlertAcrossSIGKILL(t *testing.T) {
	cli := dockertest.Client(t)
	bin := buildScar(t)
	name, pf := labelledProject(t, "alkill")
	api := telegramfake.New(t)
	state := t.TempDir()
	env := append(alertEnv(api, pf), "SCAR_STATE_DIR="+state)
	dir := t.TempDir()
	_, before := exitingServices(t, name, "a", 3, dir, "a")
	downIDs, down := exitingServices(t, name, "b", 3, dir, "b")

	first := startScarProcess(t, bin, env...)
	waitStreamUp(t, first.server, 1)
	touch(t, dir, "a")
	eachNamedOnce(t, api, 30*time.Second, before)
	first.kill(t)

	touch(t, dir, "b")
	for _, id := range downIDs {
		dockertest.WaitExited(t, cli, id, 30*time.Second)
	}
	sentBefore := len(alertMessages(api))
	second := startScarProcess(t, bin, env...)
	waitStreamUp(t, second.server, 1)
	ms := eachNamedOnce(t, api, 30*time.Second, append(before, down...))
	checkOneIncidentEach(t, state, "shop", append(before, down...))
	t.Logf("%d message(s) before the kill, %d after the restart", sentBefore, len(ms)-sentBefore)
}

// botAPIGate stands between scar and the fake Bot API; while down it answers every
// call 502, as a proxy in front of an unreachable Telegram does.
type botAPIGate struct {
	URL     string
	down    atomic.Bool
	refused atomic.Int64
}

func newBotAPIGate(t *testing.T, api *telegramfake.Server) *botAPIGate {
	t.Helper()
	target, err := url.Parse(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	g := &botAPIGate{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() {
			g.refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, `{"ok":false,"error_code":502,"description":"Bad Gateway"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// TestAlertBotAPIDownDuringBurst: the Bot API is down for 30 s while two bursts of
// containers die, and scar is restarted in the middle of it (so that the alerts live
// only in the state store, not in a send the outgoing sender keeps retrying: that
// alone rides out 30 s); when the Bot API is back every death is delivered, grouped
// (at most two messages), none twice.
func TestAlertBotAPIDownDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("the Bot API is down for 30 s")
	}
	cli := dockertest.Client(t)
	name, pf := labelledProject(t, "albotdown")
	api := telegramfake.New(t)
	gate := newBotAPIGate(t, api)
	state := t.TempDir()
	dir := t.TempDir()
	firstIDs, first := exitingServices(t, name, "a", 5, dir, "a")
	secondIDs, second := exitingServices(t, name, "b", 5, dir, "b")
	env := append(alertEnv(api, pf), "SCAR_TELEGRAM_API_URL="+gate.URL, "SCAR_STATE_DIR="+state)
	s := startServe(t, env...)
	api.WaitCalls(t, "setMyCommands", 1)
	waitStreamUp(t, s, 1)

	gate.down.Store(true)
	downAt := time.Now()
	touch(t, dir, "a")
	for _, id := range firstIDs {
		dockertest.WaitExited(t, cli, id, 30*time.Second)
	}
	dockertest.WaitFor(t, 30*time.Second, func() bool { return gate.refused.Load() > 0 })
	// scar stops and starts again while the Bot API is down.
	stopping := time.Now()
	s.cancel()
	err := <-s.done
	s.done <- err // for startServe's cleanup
	t.Logf("scar stopped in %s while the Bot API was down", time.Since(stopping).Round(time.Millisecond))
	touch(t, dir, "b")
	for _, id := range secondIDs {
		dockertest.WaitExited(t, cli, id, 30*time.Second)
	}
	s = startServe(t, env...)
	waitStreamUp(t, s, 1)
	// Down for 30 s in all.
	dockertest.WaitFor(t, 60*time.Second, func() bool { return time.Since(downAt) >= 30*time.Second })
	if ms := alertMessages(api); len(ms) != 0 {
		t.Fatalf("messages through a Bot API that is down:\n%s", describeAlerts(ms))
	}
	gate.down.Store(false)
	upAt := time.Now()

	ms := eachNamedOnce(t, api, 60*time.Second, append(first, second...))
	t.Logf("%d Bot API calls refused while down; every alert delivered %s after it came back, in %d message(s)",
		gate.refused.Load(), time.Since(upAt).Round(time.Millisecond), len(ms))
	if len(ms) > 2 {
		t.Errorf("%d messages after the Bot API came back, want the deaths grouped in at most 2:\n%s", len(ms), describeAlerts(ms))
	}
	checkOneIncidentEach(t, state, "shop", append(first, second...))
}

// TestAlertEngineUnreachableThenBack: scar talks to the engine through a proxy that
// is stopped while containers die behind it: the Docker unreachable alert is sent
// (its threshold shortened for the test) and edited when the engine is back, and each
// death is alerted once after the stream resumes.
func TestAlertEngineUnreachableThenBack(t *testing.T) {
	cli := dockertest.Client(t)
	withWatcherTuning(t, func(c *dockerops.WatcherConfig) {
		c.UnreachableAfter = 2 * time.Second
		c.ReconnectBackoffMax = time.Second
	})
	proxy := engineproxy.New(t)
	name, pf := labelledProject(t, "alunreach")
	api := telegramfake.New(t)
	state := t.TempDir()
	dir := t.TempDir()
	ids, names := exitingServices(t, name, "w", 3, dir, "exit")
	s := startServe(t, append(alertEnv(api, pf), "SCAR_STATE_DIR="+state, "DOCKER_HOST="+proxy.Host())...)
	up := fmt.Sprintf("scar_event_stream_up{host=%q}", proxy.Host())
	dockertest.WaitFor(t, 30*time.Second, func() bool { return metricValue(t, s, up) == 1 })

	proxy.Stop()
	dockertest.WaitFor(t, 30*time.Second, func() bool { return metricValue(t, s, up) == 0 })
	touch(t, dir, "exit")
	for _, id := range ids {
		dockertest.WaitExited(t, cli, id, 30*time.Second)
	}
	ms := waitAlerts(t, api, 30*time.Second, "the Docker unreachable alert", func(ms []*alertMessage) bool {
		return len(ms) > 0 && strings.Contains(ms[0].text, "Docker unreachable")
	})
	unreachable := ms[0].id
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}

	ms = eachNamedOnce(t, api, 30*time.Second, names)
	ms = waitAlerts(t, api, 30*time.Second, "the unreachable alert edited to reachable again", func(ms []*alertMessage) bool {
		return len(ms) > 0 && ms[0].id == unreachable && strings.Contains(ms[0].text, "Docker reachable again")
	})
	for _, c := range names {
		if m := naming(ms, c); len(m) == 1 && !strings.Contains(m[0].text, c+" — died: exited with code 3") {
			t.Errorf("%s is not alerted as died with code 3:\n%s", c, m[0].text)
		}
	}
	checkOneIncidentEach(t, state, "shop", names)
	t.Logf("alerts:\n%s", describeAlerts(ms))
}
