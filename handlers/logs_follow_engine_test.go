package handlers

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/telegramfake"
)

var _ Follower = (*dockerops.Service)(nil)

// engineWait bounds each wait on the real engine: long enough for a loaded CI
// machine, and no time limit on what is waited for, only a way to fail rather than hang.
const engineWait = time.Minute

// tickingProject runs one container of a fresh Compose project on the real engine,
// the demo app writing "tick N <time written>" every 200 ms, and returns the
// project's name, the container's name and id, and a harness tweak that gives the
// bot the real dockerops Service as its Operations and its Follower.
func tickingProject(t *testing.T, cli *client.Client) (project, web, id string, tweak func(*Config, *Deps)) {
	t.Helper()
	image := dockertest.BuildAppImage(t)
	cp := dockertest.UniqueName(t, "tgfollow")
	dockertest.RemoveImagesWhenDone(t, cli, cp) // registered first: it runs after the container's removal
	web = dockertest.V2Name(cp, "web", 1)
	id = dockertest.RunContainer(t, cli, dockertest.ContainerSpec{Name: web, Image: image, Labels: dockertest.ComposeLabels(cp, "web", 1, ""),
		Env: []string{"LOG_LINES=1", "TICK_EVERY=200ms"}, Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}})

	dir := t.TempDir()
	for _, d := range []string{"workspace", "production"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ps := writeProjects(t, fmt.Sprintf(`{%q: {"workspace": %q, "production": %q, "compose_project": %q, "containers": [%q]}}`,
		cp, filepath.Join(dir, "workspace"), filepath.Join(dir, "production"), cp, web))
	engine, err := dockerops.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return cp, web, id, func(cfg *Config, d *Deps) {
		// Short, so that the test does not wait out the default 2 s between edits.
		cfg.FollowInterval = 100 * time.Millisecond
		svc := dockerops.New(engine, ps, d.Metrics, d.Logger, dockerops.WithPollInterval(100*time.Millisecond))
		d.Projects, d.Ops, d.Follower, d.Deploys = ps, svc, svc, nil
	}
}

// TestFollowOnTheRealEngine: /docker_logs <project> follow through the fake Bot API
// and the real dockerops Service on the real engine. The follow's message is edited
// until it shows a tick the container wrote after the follow began; a stop of the
// container through the Engine API shows in a later edit as "stopped (exit code …)";
// ⏹ Stop ends the follow with its final text, and no goroutine of it is left, in
// handlers or in dockerops.
func TestFollowOnTheRealEngine(t *testing.T) {
	cli := dockertest.Client(t)
	project, web, id, real := tickingProject(t, cli)
	h := newHarness(t, real)
	// Ticks before the follow: its tail has some, and only the live part can bring
	// the later ones.
	dockertest.WaitFor(t, engineWait, func() bool { return strings.Contains(containerLog(t, cli, id), "tick 3 ") })

	h.send(admin.ID, admin, "/docker_logs "+project+" follow")
	var (
		msgID int
		stop  string
	)
	h.api.WaitFor(t, engineWait, "the follow's message with a ⏹ Stop button", func([]telegramfake.Call) bool {
		for _, c := range h.api.Calls("sendMessage") {
			for _, b := range buttons(t, c) {
				if c.OK() && c.Int64("chat_id") == admin.ID && strings.HasPrefix(b, dataFollowStop+":") {
					msgID, stop = c.MessageID, b
					return true
				}
			}
		}
		return false
	})
	// The message is sent once the follow runs: a tick written after this was
	// written after the follow began, so only the live part can have brought it.
	began := time.Now()

	// edit waits for an edit of the follow's message that satisfies ok and returns
	// its index among the message's sends and edits, and its text.
	edit := func(what string, ok func(text string) bool) (int, string) {
		t.Helper()
		var (
			at   int
			text string
		)
		h.api.WaitFor(t, engineWait, what, func([]telegramfake.Call) bool {
			for i, c := range messageCalls(h, admin.ID, msgID) {
				if c.OK() && c.Method == "editMessageText" && ok(rendered(t, c)) {
					at, text = i, rendered(t, c)
					return true
				}
			}
			return false
		})
		return at, text
	}

	tickAt, ticked := edit("an edit with a tick written after the follow began", func(text string) bool {
		return lastTickWritten(text).After(began)
	})
	t.Logf("edit %d:\n%s", tickAt, ticked)
	if want := "📜 " + web + " · " + project + "\n"; !strings.HasPrefix(ticked, want) {
		t.Errorf("the message does not start with %q:\n%s", want, ticked)
	}

	timeout := 5
	if _, err := cli.ContainerStop(t.Context(), id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	note := "🔔 " + web + " stopped (exit code "
	stopAt, stopped := edit("an edit saying the container stopped", func(text string) bool { return strings.Contains(text, note) })
	t.Logf("edit %d:\n%s", stopAt, stopped)
	if stopAt <= tickAt {
		t.Errorf("the stop showed in edit %d, not after the tick's edit %d", stopAt, tickAt)
	}

	if got := h.answerTo(h.press(admin.ID, admin, msgID, stop)); got != "Follow stopped." {
		t.Errorf("⏹ Stop answered %q", got)
	}
	_, final := edit("the final edit", func(text string) bool { return strings.Contains(text, "⏹ Follow stopped.") })
	t.Logf("final:\n%s", final)
	if !strings.Contains(final, note) || !strings.Contains(final, "👉 Next: /docker_logs") || !strings.Contains(final, " follow") {
		t.Errorf("the final edit lacks the stop's note or the command that follows again:\n%s", final)
	}
	calls := messageCalls(h, admin.ID, msgID)
	if last := calls[len(calls)-1]; len(buttons(t, last)) != 0 {
		t.Errorf("the final edit keeps buttons %q", buttons(t, last))
	}
	dockertest.WaitFor(t, engineWait, func() bool { return !followGoroutines() && !engineFollowGoroutines() })
}

// lastTickWritten is the time written in the last "tick N <time>" line of a follow's
// message; zero when it shows none.
func lastTickWritten(text string) time.Time {
	var at time.Time
	for line := range strings.Lines(text) {
		// "15:04:05 tick N <RFC 3339 time>": the follow's stamp, then the app's line.
		f := strings.Fields(line)
		if len(f) != 4 || f[1] != "tick" {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, f[3]); err == nil {
			at = t
		}
	}
	return at
}

// containerLog is what the container wrote to stdout so far, as the engine sends it
// (multiplexed: enough to look for a line in).
func containerLog(t *testing.T, cli *client.Client, id string) string {
	t.Helper()
	rc, err := cli.ContainerLogs(t.Context(), id, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatalf("logs of %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("logs of %s: %v", id, err)
	}
	return string(b)
}

// engineFollowGoroutines reports whether a goroutine runs dockerops' follow code.
func engineFollowGoroutines() bool {
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	return strings.Contains(stacks, "dockerops.(*follower)")
}
