package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

// TestStatusShowsProblems: /docker_status says what is misconfigured, in the words
// status gives, rather than an empty status that looks healthy.
func TestStatusShowsProblems(t *testing.T) {
	h := newHarness(t)
	problems := []string{"workspace /nowhere does not exist: create it", `compose project "po" has no containers yet: deploy it`}
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		st := seedStatus(project)
		st.Containers, st.Problems = nil, problems
		return st, nil
	}
	h.send(admin.ID, admin, "/docker_status")
	got := rendered(t, h.waitSent(admin.ID, "Production Status"))
	for _, want := range problems {
		if !strings.Contains(got, "⚙️ "+want) {
			t.Errorf("status lacks %q\n--- got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "No containers found") {
		t.Errorf("status says only that no containers were found:\n%s", got)
	}
}
