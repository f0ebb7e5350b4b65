package dockerops

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// countingEngine is the real engine, with a count of the inspects and logs calls made
// through it: whether a logs request read early shows in them.
type countingEngine struct {
	Engine
	inspects, logs atomic.Int64
}

func (e *countingEngine) ContainerInspect(ctx context.Context, id string, o client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	e.inspects.Add(1)
	return e.Engine.ContainerInspect(ctx, id, o)
}

func (e *countingEngine) ContainerLogs(ctx context.Context, id string, o client.ContainerLogsOptions) (client.ContainerLogsResult, error) {
	e.logs.Add(1)
	return e.Engine.ContainerLogs(ctx, id, o)
}

// TestLogsReadEarlyOnlyForTheResolvedContainer: a logs request starts reading the
// container it resolved to last time while the project's members are listed. The
// lines are the same as without it; and when the list resolves the request to
// another container, or to none, the early read's lines are never answered: a
// project's logs are of its own containers only, and errors answer as without it.
func TestLogsReadEarlyOnlyForTheResolvedContainer(t *testing.T) {
	t.Parallel()
	cp1, cp2, cp3 := dockertest.UniqueName(t, "early1"), dockertest.UniqueName(t, "early2"), dockertest.UniqueName(t, "early3")
	dir := t.TempDir() // no Compose file: a Compose project without containers is misconfigured
	project := func(cp string) *projects.Project {
		return &projects.Project{Name: "app", ComposeProject: cp, PrimaryContainer: "web", Production: dir, Workspace: dir}
	}
	ps := projectMap{"app": project(cp1)}
	f := newFixture(t, ps)
	engine := &countingEngine{Engine: f.engine}
	svc := New(engine, ps, nil, nil)
	tag := func(s string) string { return "LOG_RAW_HEX=" + hex.EncodeToString([]byte(s)) }
	web1 := f.run(t, cp1, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=3", tag("written by " + cp1)}})
	tty1 := f.run(t, cp1, "tty", dockertest.ContainerSpec{Env: []string{"LOG_LINES=2", tag("tty of " + cp1)}, Tty: true})
	web2 := f.run(t, cp2, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=3", tag("written by " + cp2)}})
	f.waitHealthy(t, web1, tty1, web2)
	ctx := t.Context()

	logs := func(t *testing.T, req LogsRequest) (*LogsResult, error) {
		t.Helper()
		inspects, calls := engine.inspects.Load(), engine.logs.Load()
		res, err := svc.Logs(ctx, "app", req)
		t.Logf("logs of %q: %d inspects, %d logs calls", req.Container, engine.inspects.Load()-inspects, engine.logs.Load()-calls)
		return res, err
	}
	// without is the answer of a Service that never read early.
	without := func(t *testing.T, req LogsRequest) (*LogsResult, error) {
		t.Helper()
		return New(f.engine, ps, nil, nil).Logs(ctx, "app", req)
	}
	has := func(res *LogsResult, text string) bool {
		return slices.ContainsFunc(res.Lines, func(l LogLine) bool { return strings.Contains(l.Text, text) })
	}

	for _, req := range []LogsRequest{{}, {Container: "web"}, {Container: "tty"}, {Container: cp1 + "-web-1", Lines: 2}} {
		first, err := logs(t, req)
		if err != nil {
			t.Fatal(err)
		}
		inspects := engine.inspects.Load()
		second, err := logs(t, req)
		if err != nil {
			t.Fatal(err)
		}
		if engine.inspects.Load() != inspects {
			t.Errorf("logs of %q: the second request inspected the container again: it did not read early", req.Container)
		}
		if !slices.Equal(first.Lines, second.Lines) || first.Container != second.Container || len(first.Lines) == 0 {
			t.Errorf("logs of %q read early:\n%s\nwant as at first:\n%s", req.Container, joined(texts(second.Lines)), joined(texts(first.Lines)))
		}
		if req.Container == "tty" && (!has(second, "tty of "+cp1) || slices.ContainsFunc(second.Lines, func(l LogLine) bool { return l.Stream != streamTTY || strings.HasSuffix(l.Text, "\r") })) {
			t.Errorf("the TTY container's log read early is not read as a TTY's: %q", texts(second.Lines))
		}
	}

	// The project now names another Compose project: its web is another container.
	ps["app"] = project(cp2)
	for _, req := range []LogsRequest{{}, {Container: "web"}} {
		calls := engine.logs.Load()
		res, err := logs(t, req)
		if err != nil {
			t.Fatal(err)
		}
		if engine.logs.Load()-calls != 2 {
			t.Errorf("logs of %q: %d logs calls, want 2 (the early one, dropped, then the resolved container's)", req.Container, engine.logs.Load()-calls)
		}
		if has(res, "written by "+cp1) || !has(res, "written by "+cp2) || res.Container != cp2+"-web-1" {
			t.Errorf("logs of %q of the project moved to %s: %s %q", req.Container, cp2, res.Container, texts(res.Lines))
		}
	}
	// cp1's web is no longer the project's: named, it is refused as without the early read.
	res, err := logs(t, LogsRequest{Container: cp1 + "-web-1", Lines: 2})
	_, errWithout := without(t, LogsRequest{Container: cp1 + "-web-1", Lines: 2})
	if res != nil || !errors.Is(err, ErrNotFound) || errWithout == nil || err.Error() != errWithout.Error() {
		t.Errorf("logs of %s-web-1, no longer the project's: %+v, %v; want %v", cp1, res, err, errWithout)
	}

	// The project names a Compose project without containers: its error, and no lines.
	ps["app"] = project(cp3)
	for _, req := range []LogsRequest{{}, {Container: "web"}} {
		res, err := logs(t, req)
		_, errWithout := without(t, req)
		if res != nil || !errors.Is(err, ErrMisconfigured) || errWithout == nil || err.Error() != errWithout.Error() {
			t.Errorf("logs of %q of a project without containers: %+v, %v; want %v", req.Container, res, err, errWithout)
		}
	}
}
