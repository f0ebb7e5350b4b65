package api

import (
	"io"
	"strings"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

// TestUnknownProjectCountedApart: operations on a project that does not exist are
// counted with outcome="unknown_project", never as errors, which the
// ScarOperationsFailing alert counts.
func TestUnknownProjectCountedApart(t *testing.T) {
	d := testDeps(t, nil)
	engine, err := dockerops.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	d.Ops = dockerops.New(engine, d.Projects.(dockerops.ProjectSource), d.Metrics, nil)
	h := NewServer(d)
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/projects/nope/status"},
		{"GET", "/api/v1/projects/nope/logs"},
		{"POST", "/api/v1/projects/nope/restart"},
		{"POST", "/api/v1/projects/nope/stop"},
		{"POST", "/api/v1/projects/nope/start"},
	} {
		if rec := do(t, h, c.method, c.path, fullToken, ""); rec.Code != 404 || errorCode(t, rec) != "unknown_project" {
			t.Errorf("%s %s: %d %s, want 404 unknown_project", c.method, c.path, rec.Code, rec.Body)
		}
	}
	body, _ := io.ReadAll(do(t, h, "GET", "/metrics", "", "").Body)
	for _, op := range []string{"status", "logs", "restart", "stop", "start"} {
		want := `scar_operation_duration_seconds_count{operation="` + op + `",outcome="unknown_project",project=""} 1`
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), `outcome="error"`) {
		t.Errorf("an unknown project was counted as an error:\n%s", grepLines(string(body), `outcome="error"`))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
