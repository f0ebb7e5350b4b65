package dockerops

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// TestNonMemberFromProjectImageIsIgnored: Compose v2 labels the images it builds with
// the project and service, so a `docker run` of the project's image carries them too
// (under v1 the test puts the same labels on by hand, as `docker run --label` would).
// Such a container is not one Compose created for the project: status, logs, restart
// and the deploy plan must not take it.
func TestNonMemberFromProjectImageIsIgnored(t *testing.T) {
	e := newDeployEnv(t, nil)
	web := e.container("web")
	webName := dockertest.Inspect(t, e.cli, web.ID).Name[1:]
	image := e.p.ComposeProject + "-web:latest"
	spec := dockertest.ContainerSpec{Name: dockertest.UniqueName(t, "stray"), Image: image, Healthcheck: noHealthcheck}
	if dockertest.ComposeFlavour() == "v1" {
		spec.Labels = map[string]string{labelProject: e.p.ComposeProject, labelService: "web"}
	}
	strayID := dockertest.RunContainer(t, e.cli, spec)
	stray := dockertest.Inspect(t, e.cli, strayID)
	if stray.Config.Labels[labelProject] != e.p.ComposeProject || stray.Config.Labels[labelService] != "web" {
		t.Fatalf("the stray container lacks the project's labels (%v): the test proves nothing", stray.Config.Labels)
	}
	ctx := context.Background()

	st, err := e.svc.Status(ctx, e.p.Name)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range st.Containers {
		names = append(names, c.Name)
	}
	if slices.Contains(names, spec.Name) || len(names) != 2 {
		t.Errorf("status lists %v: want the two Compose containers, not %s", names, spec.Name)
	}

	if _, err := e.svc.Logs(ctx, e.p.Name, LogsRequest{Container: spec.Name}); !errors.Is(err, ErrNotFound) {
		t.Errorf("logs of the stray container: err %v, want ErrNotFound", err)
	}
	if res, err := e.svc.Logs(ctx, e.p.Name, LogsRequest{Container: "web"}); err != nil || res.Container != webName {
		t.Errorf("logs of service web: %+v, %v; want container %s", res, err, webName)
	}

	e.edit("content/index.txt", "content v2\n")
	plan, err := e.svc.PlanDeploy(ctx, e.p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.Restart, []string{webName}) || len(plan.Recreate) != 0 {
		t.Errorf("plan restarts %v and recreates %v: want only %s", plan.Restart, plan.Recreate, webName)
	}

	res, err := e.svc.Restart(ctx, e.p.Name, RestartRequest{Containers: []string{"web"}}, Actor{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var restarted []string
	for _, c := range res.Containers {
		restarted = append(restarted, c.Name)
	}
	if !slices.Equal(restarted, []string{webName}) {
		t.Errorf("restart of web restarted %v, want only %s", restarted, webName)
	}
	if after := dockertest.Inspect(t, e.cli, strayID); after.State.StartedAt != stray.State.StartedAt {
		t.Errorf("the stray container was restarted (started %s, now %s)", stray.State.StartedAt, after.State.StartedAt)
	}
}

func TestMemberMatchesEitherComposeName(t *testing.T) {
	t.Parallel()
	compose := newMember(&container.Summary{ID: "a", Names: []string{"/po_postgres_1"}, Labels: dockertest.ComposeLabels("po", "postgres", 1, "")})
	second := newMember(&container.Summary{ID: "b", Names: []string{"/po-web-2"}, Labels: dockertest.ComposeLabels("po", "web", 2, "")})
	// A container that inherited the labels from an image has no container number.
	inherited := newMember(&container.Summary{ID: "c", Names: []string{"/stray"}, Labels: map[string]string{labelProject: "po", labelService: "web"}})
	plain := newMember(&container.Summary{ID: "d", Names: []string{"/backend"}})
	tests := []struct {
		name string
		m    *member
		want bool
	}{
		{"po_postgres_1", compose, true},
		{"po-postgres-1", compose, true},
		{"/po-postgres-1", compose, true},
		{"postgres", compose, true},
		{"po-postgres-2", compose, false},
		{"po_postgres-1", compose, false},
		{"other-postgres-1", compose, false},
		{"po-web-2", second, true},
		{"po_web_2", second, true},
		{"po-web-1", second, false},
		{"po-web-1", inherited, false},
		{"po_web_", inherited, false},
		{"backend", plain, true},
		{"-backend-0", plain, false},
		{"", compose, false},
	}
	for _, tc := range tests {
		if got := tc.m.matches(tc.name); got != tc.want {
			t.Errorf("%s matches %q = %v, want %v", tc.m.name, tc.name, got, tc.want)
		}
	}
}

// TestSeedProjectsFileHasNoPhantomContainers: the original bot's projects file lists
// v2 names (po-postgres-1); Compose v1 names the same containers po_postgres_1. An
// entry in either naming designates the container with that project, service and
// number, so status lists each container once, none of them not_found, whichever
// tool created them.
func TestSeedProjectsFileHasNoPhantomContainers(t *testing.T) {
	image := dockertest.BuildAppImage(t)
	cp := dockertest.NewComposeProject(t, "seed", "services:\n  backend:\n    image: "+image+"\n  postgres:\n    image: "+image+"\n  redis:\n    image: "+image+"\n")
	for _, naming := range []struct {
		name string
		of   func(project, service string, n int) string
	}{{"v2 names", dockertest.V2Name}, {"v1 names", dockertest.V1Name}} {
		t.Run(naming.name, func(t *testing.T) {
			p := &projects.Project{Name: "po", Workspace: "/ws/po", Production: "/srv/po", ComposeProject: cp.Name, AutoDetect: true,
				Containers:       []string{"backend", naming.of(cp.Name, "postgres", 1), naming.of(cp.Name, "redis", 1)},
				PrimaryContainer: "backend"}
			f := newFixture(t, projectMap{"po": p})
			st, err := f.svc.Status(t.Context(), "po")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range st.Containers {
				got = append(got, c.Service+":"+c.State)
			}
			if want := []string{"backend:running", "postgres:running", "redis:running"}; !slices.Equal(got, want) {
				t.Errorf("status containers %v, want %v (no phantom not_found)", got, want)
			}
			res, err := f.svc.Logs(t.Context(), "po", LogsRequest{Container: naming.of(cp.Name, "redis", 1), Lines: 1})
			if err != nil || res.Container != flavourName(cp.Name, "redis", 1) {
				t.Errorf("logs of %s: %+v, %v", naming.of(cp.Name, "redis", 1), res, err)
			}
		})
	}
}

// flavourName is the name the Compose tool under test gives container n of service.
func flavourName(project, service string, n int) string {
	if dockertest.ComposeFlavour() == "v1" {
		return dockertest.V1Name(project, service, n)
	}
	return dockertest.V2Name(project, service, n)
}
