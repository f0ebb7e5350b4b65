package dockerops

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/store"
)

// withFileDeploys gives a fixture's Service deploys (the file engine, a state store
// and the Compose tool under test), so that plans can be asked for.
func withFileDeploys(t *testing.T) Option {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fe, err := deployments.New(deployments.Config{StateDir: t.TempDir(), Journal: db})
	if err != nil {
		t.Fatal(err)
	}
	return func(s *Service) {
		WithDeploys(s.docker.(Builder), fe, db, NewCompose(strings.Join(dockertest.ComposeCommand(), " ")))(s)
	}
}

// TestMisconfiguredProjectSaysWhatToFix: a compose_project without containers, a
// missing workspace, and a production run by another Compose project are each
// reported by status with what to fix, and restart, logs and deploy answer with the
// same words as ErrMisconfigured instead of doing nothing with success (or a 500). A
// project never deployed, with a Compose file to deploy from, is not misconfigured:
// status says to deploy it, restart and logs answer ErrNotDeployed, and its plan is made.
func TestMisconfiguredProjectSaysWhatToFix(t *testing.T) {
	if len(dockertest.ComposeCommand()) == 0 {
		t.Skip("no Compose tool")
	}
	// A Compose project the engine has, that the answers must name.
	other := dockertest.UniqueName(t, "known")
	otherProd := t.TempDir()
	knownLabels := dockertest.ComposeLabels(other, "web", 1, "")
	knownLabels[labelWorkingDir] = otherProd

	dir := func(files ...string) string {
		d := t.TempDir()
		for _, f := range files {
			writeFile(t, filepath.Join(d, f), "services:\n  web:\n    image: "+dockertest.BuildAppImage(t)+"\n")
		}
		return d
	}
	missing := filepath.Join(t.TempDir(), "nowhere")
	ps := projectMap{
		"typo":      {Name: "typo", Workspace: dir(), Production: dir(), ComposeProject: dockertest.UniqueName(t, "typo"), AutoDetect: true},
		"firsttime": {Name: "firsttime", Workspace: dir("docker-compose.yml"), Production: dir(), ComposeProject: dockertest.UniqueName(t, "first"), AutoDetect: true},
		"noworkspace": {Name: "noworkspace", Workspace: missing, Production: otherProd, ComposeProject: other, AutoDetect: true,
			Containers: []string{"web"}},
		"renamed": {Name: "renamed", Workspace: dir("compose.yaml"), Production: otherProd, ComposeProject: dockertest.UniqueName(t, "renamed"), AutoDetect: true},
	}
	f := newFixture(t, ps, withFileDeploys(t))
	f.run(t, other, "web", dockertest.ContainerSpec{Labels: knownLabels, Healthcheck: noHealthcheck})
	ctx := context.Background()
	who := Actor{Name: "test"}

	tests := []struct {
		project string
		// problem is in status's problems and in the errors of the operations.
		problem string
		// opsErr is what restart and logs answer (nil: they work); planErr what a plan answers.
		opsErr, planErr error
	}{
		{"typo", `compose project "` + ps["typo"].ComposeProject + `" has no containers on this engine`, ErrMisconfigured, ErrMisconfigured},
		{"firsttime", `compose project "` + ps["firsttime"].ComposeProject + `" has no containers yet: deploy it`, ErrNotDeployed, nil},
		{"noworkspace", "workspace " + missing + " does not exist: create it", nil, ErrMisconfigured},
		{"renamed", `belong to compose project "` + other + `": set "compose_project" of project renamed`, ErrMisconfigured, ErrMisconfigured},
	}
	for _, tc := range tests {
		t.Run(tc.project, func(t *testing.T) {
			st, err := f.svc.Status(ctx, tc.project)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			if !strings.Contains(strings.Join(st.Problems, "\n"), tc.problem) {
				t.Errorf("status problems %q, want one saying %q", st.Problems, tc.problem)
			}
			if tc.project == "typo" && !strings.Contains(strings.Join(st.Problems, "\n"), `"`+other+`"`) {
				t.Errorf("status problems %q do not name the engine's Compose project %s", st.Problems, other)
			}

			res, err := f.svc.Restart(ctx, tc.project, RestartRequest{}, who, nil)
			checkErr(t, "restart", err, tc.opsErr, tc.problem)
			if tc.opsErr == nil && (err != nil || !res.OK || len(res.Containers) != 1) {
				t.Errorf("restart: %+v, %v; want the one container restarted", res, err)
			}
			_, err = f.svc.Logs(ctx, tc.project, LogsRequest{Lines: 1})
			checkErr(t, "logs", err, tc.opsErr, tc.problem)

			_, err = f.svc.PlanDeploy(ctx, tc.project)
			checkErr(t, "plan", err, tc.planErr, tc.problem)
			if tc.planErr != nil { // a deploy that can be planned would run: not here
				_, err = f.svc.Deploy(ctx, tc.project, who, nil)
				checkErr(t, "deploy", err, tc.planErr, tc.problem)
			}
		})
	}
}

func checkErr(t *testing.T, op string, err, want error, words string) {
	t.Helper()
	if want == nil {
		if err != nil && (errors.Is(err, ErrMisconfigured) || errors.Is(err, ErrNotDeployed)) {
			t.Errorf("%s: %v; want no configuration error", op, err)
		}
		return
	}
	if !errors.Is(err, want) || !strings.Contains(err.Error(), words) {
		t.Errorf("%s: err %v; want %v saying %q", op, err, want, words)
	}
}

// TestNotDeployedProjectInSyncSaysHowToStart: status tells a Compose project never
// deployed to "deploy it", but when production already matches the workspace a
// deploy has nothing to copy and starts nothing. Its plan and its deploy answered
// "nothing to deploy" (200, and the dry run nothing_to_deploy: true) and the project
// stayed down; they answer ErrNotDeployed saying how to start it instead.
func TestNotDeployedProjectInSyncSaysHowToStart(t *testing.T) {
	if len(dockertest.ComposeCommand()) == 0 {
		t.Skip("no Compose tool")
	}
	compose := "services:\n  web:\n    image: " + dockertest.BuildAppImage(t) + "\n"
	ws, prod := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(ws, "docker-compose.yml"), compose)
	writeFile(t, filepath.Join(prod, "docker-compose.yml"), compose)
	name := dockertest.UniqueName(t, "insync")
	ps := projectMap{"insync": {Name: "insync", Workspace: ws, Production: prod, ComposeProject: name, AutoDetect: true}}
	f := newFixture(t, ps, withFileDeploys(t))
	ctx := context.Background()

	words := "-p " + name + " up -d"
	_, err := f.svc.PlanDeploy(ctx, "insync")
	checkErr(t, "plan", err, ErrNotDeployed, words)
	d, err := f.svc.Deploy(ctx, "insync", Actor{Name: "test"}, nil)
	checkErr(t, "deploy", err, ErrNotDeployed, words)
	if d != nil {
		t.Errorf("deploy: record %+v; want none", d)
	}
}
