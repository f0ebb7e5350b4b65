package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

// The scar client against a real `scar serve` on the real engine: every command as a
// script runs it (stdout is not a terminal), its output and its exit code.

// clientRun is one run of a client command.
type clientRun struct {
	code   int
	stdout string
	err    string // the one line main prints after "scar: "
}

// scarClient runs `scar args...` in this process against s with token, as main would:
// the exit code from exitCode, the error's line.
func scarClient(t *testing.T, s *server, token string, args ...string) clientRun {
	t.Helper()
	return scarClientTo(t, context.Background(), s.url, token, &bytes.Buffer{}, args...)
}

func scarClientTo(t *testing.T, ctx context.Context, url, token string, stdout io.Writer, args ...string) clientRun {
	t.Helper()
	env := []string{"SCAR_URL=" + url, "SCAR_TOKEN=" + token}
	var stderr bytes.Buffer
	err := run(ctx, args, env, stdout, &stderr)
	r := clientRun{}
	if b, ok := stdout.(interface{ String() string }); ok {
		r.stdout = b.String()
	}
	if err != nil {
		r.code, r.err = exitCode(err), err.Error()
		if strings.Contains(r.err, "\n") {
			t.Errorf("scar %v: its error is more than one line:\n%s", args, r.err)
		}
	}
	return r
}

func (r clientRun) want(t *testing.T, args string, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("scar %s: exit %d (%s), want %d\nstdout:\n%s", args, r.code, r.err, code, r.stdout)
	}
}

// TestClientCommandsOnTheEngine drives a Compose project through the client: status,
// logs, restart, a deploy refused without --yes off a terminal, refused to a read-only
// token, a deploy that succeeds with its stages printed, one with nothing to do, one
// that fails its health gate and is rolled back, the history, a rollback; and the
// exit codes of a wrong token and an unknown project.
func TestClientCommandsOnTheEngine(t *testing.T) {
	f := newFaultProject(t, "cli")
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFileOf(t, f.entry(`"health_timeout": "8s"`)), "SCAR_API_TOKENS="+e2eToken,
		"SCAR_API_READ_TOKENS="+readToken, "SCAR_COMPOSE_COMMAND="+strings.Join(f.compose, " "))
	web := strings.TrimPrefix(f.container(t, "web").Name, "/")
	db := strings.TrimPrefix(f.container(t, "db").Name, "/")
	prodContent := func() string {
		b, _ := os.ReadFile(filepath.Join(f.prod, "content/index.txt"))
		return string(b)
	}

	// The lone project is the default: no name needed.
	st := scarClient(t, s, readToken, "status")
	st.want(t, "status", 0)
	for _, want := range []string{"NAME", "CONDITION", "HEALTH", "UPTIME", "PORTS", "RESTARTS", web + " *", db, "running, healthy", "→8000/tcp"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, st.stdout)
		}
	}
	stJSON := scarClient(t, s, readToken, "status", f.name, "--json")
	stJSON.want(t, "status --json", 0)
	var status dockerops.ProjectStatus
	if err := json.Unmarshal([]byte(stJSON.stdout), &status); err != nil || len(status.Containers) != 2 || status.Project != f.name {
		t.Errorf("status --json: %v %+v\n%s", err, status, stJSON.stdout)
	}

	wrong := scarClient(t, s, "not-the-token-0123456789", "status")
	wrong.want(t, "status with a wrong token", exitUnauthorized)
	if !strings.Contains(wrong.err, "invalid bearer token") || !strings.Contains(wrong.err, "SCAR_TOKEN") {
		t.Errorf("wrong token: %q, want the server's word and what to set", wrong.err)
	}
	unknown := scarClient(t, s, readToken, "status", "no-such-project")
	unknown.want(t, "status no-such-project", exitNotFound)
	if !strings.Contains(unknown.err, "no-such-project") {
		t.Errorf("unknown project: %q", unknown.err)
	}

	logs := scarClient(t, s, readToken, "logs", "-n", "3", "--container", "web")
	logs.want(t, "logs", 0)
	if n := strings.Count(logs.stdout, "\n"); n != 3 || !strings.Contains(logs.stdout, " line ") {
		t.Errorf("logs -n 3: %d lines, want 3 of the app's:\n%s", n, logs.stdout)
	}

	before := f.container(t, "web").State.StartedAt
	rs := scarClient(t, s, e2eToken, "restart", f.name, "web")
	rs.want(t, "restart web", 0)
	if !strings.Contains(rs.stdout, "restart of "+f.name+" done") || !strings.Contains(rs.stdout, web) {
		t.Errorf("restart output:\n%s", rs.stdout)
	}
	if after := f.container(t, "web").State.StartedAt; after == before {
		t.Errorf("web was not restarted (started at %s before and after)", after)
	}
	if ro := scarClient(t, s, readToken, "restart"); ro.code != exitForbidden {
		t.Errorf("restart with a read-only token: exit %d (%s), want %d", ro.code, ro.err, exitForbidden)
	}

	f.edit(t, "content/index.txt", "content v2\n")
	unasked := scarClient(t, s, e2eToken, "deploy")
	unasked.want(t, "deploy without --yes off a terminal", exitNotConfirmed)
	if !strings.Contains(unasked.stdout, "changed:  content/index.txt") || !strings.Contains(unasked.err, "--yes") {
		t.Errorf("deploy without --yes: the plan and a word about --yes, got:\n%s\nerror: %s", unasked.stdout, unasked.err)
	}
	ro := scarClient(t, s, readToken, "deploy", "--yes")
	ro.want(t, "deploy --yes with a read-only token", exitForbidden)
	if prodContent() != "content v1\n" {
		t.Fatalf("a refused deploy changed production")
	}

	dep := scarClient(t, s, e2eToken, "deploy", f.name, "--yes")
	dep.want(t, "deploy --yes", 0)
	t.Logf("scar deploy --yes, piped:\n%s", dep.stdout)
	// One line per stage event, with the seconds since the deploy began.
	for _, stage := range []string{"sync", "apply", "health", "done"} {
		if !regexp.MustCompile(`(?m)^ +\d+\.\ds  ` + stage + ` +\S`).MatchString(dep.stdout) {
			t.Errorf("deploy output has no line of stage %s:\n%s", stage, dep.stdout)
		}
	}
	if !strings.Contains(dep.stdout, "succeeded in") {
		t.Errorf("deploy output does not say it succeeded:\n%s", dep.stdout)
	}
	if strings.Contains(dep.stdout, "\r") || strings.Contains(dep.stdout, "\033") {
		t.Errorf("piped deploy output has terminal controls:\n%q", dep.stdout)
	}
	if prodContent() != "content v2\n" {
		t.Errorf("production not deployed")
	}
	again := scarClient(t, s, e2eToken, "deploy", "--yes")
	again.want(t, "deploy with nothing to do", 0)
	if !strings.Contains(again.stdout, "nothing to deploy") {
		t.Errorf("deploy with nothing to do:\n%s", again.stdout)
	}

	f.editCompose(t, "VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	failed := scarClient(t, s, e2eToken, "deploy", "--yes", "--json")
	failed.want(t, "a deploy that fails its health gate", exitDeployFailed)
	if !strings.Contains(failed.err, dockerops.DeployFailedRolledBack) {
		t.Errorf("failed deploy's line: %q", failed.err)
	}
	// --json: the plan, each stage event, the final deployment, one object a line.
	lines := strings.Split(strings.TrimSpace(failed.stdout), "\n")
	var final dockerops.Deployment
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &final); err != nil || final.Status != dockerops.DeployFailedRolledBack || len(lines) < 4 {
		t.Errorf("deploy --json: last line %v %+v, %d lines:\n%s", err, final, len(lines), failed.stdout)
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("deploy --json line %d is not JSON: %s", i+1, l)
		}
	}

	hist := scarClient(t, s, readToken, "history", "-n", "5")
	hist.want(t, "history", 0)
	t.Logf("scar status:\n%s\nscar history:\n%s", st.stdout, hist.stdout)
	for _, want := range []string{"ID", "STATUS", final.ID, dockerops.DeployFailedRolledBack, dockerops.DeploySuccess} {
		if !strings.Contains(hist.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, hist.stdout)
		}
	}

	rb := scarClient(t, s, e2eToken, "rollback", "--yes")
	rb.want(t, "rollback --yes", 0)
	if !strings.Contains(rb.stdout, "rollback of "+f.name) || prodContent() != "content v1\n" {
		t.Errorf("rollback: production has %q, want content v1; output:\n%s", prodContent(), rb.stdout)
	}
}

// TestClientServerDown: a closed port is exit 3 with one line naming the address.
func TestClientServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"status", "demo"}, {"deploy", "demo", "--yes"}, {"logs", "-f"}} {
		r := scarClientTo(t, context.Background(), "http://"+addr, e2eToken, &bytes.Buffer{}, args...)
		r.want(t, strings.Join(args, " ")+" against a closed port", exitUnreachable)
		if !strings.Contains(r.err, addr) || !strings.Contains(r.err, "SCAR_URL") {
			t.Errorf("%v: %q, want the address and what to set", args, r.err)
		}
	}
}
