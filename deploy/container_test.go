package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/scar-dev/scar/api"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
)

// The tests of the files that run scar in a container: Dockerfile, .dockerignore and
// docker-compose.yml. The image itself cannot be built here (its base images need a
// registry); what can be run is: both Compose tools on the Compose file, the
// HEALTHCHECK's command against a listening scar, and the build context the engine
// makes from .dockerignore.

// composeTools returns the Compose tools present, by name. Under CI or
// SCAR_TEST_DOCKER=required both must be.
func composeTools(t *testing.T) map[string][]string {
	t.Helper()
	tools := map[string][]string{}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		tools["v1"] = []string{"docker-compose"}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		tools["v2"] = []string{"docker", "compose"}
	}
	if len(tools) < 2 && (os.Getenv("CI") == "true" || os.Getenv(dockertest.RequiredEnv) == "required") {
		t.Fatalf("both Compose tools are required, found %v", tools)
	}
	if len(tools) == 0 {
		t.Skip("no Compose tool")
	}
	return tools
}

// composeConfig runs `<tool> config` on a copy of docker-compose.yml (so that no .env
// of the repository's directory is read) with env only, and returns its output.
func composeConfig(t *testing.T, tool []string, env ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// build: . must exist for v2 to accept the file.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool[0], append(tool[1:], "config")...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String() + errOut.String(), err
}

// TestComposeFile: both Compose tools accept docker-compose.yml; without DOCKER_GID
// they refuse it and say how to find the socket's group (999 was wrong on Debian,
// where the socket's group is 105); the user is the image's fixed uid; the variables
// users set are passed on, and SCAR_TRUSTED_PROXIES is the network's gateway.
func TestComposeFile(t *testing.T) {
	for name, tool := range composeTools(t) {
		t.Run(name, func(t *testing.T) {
			out, err := composeConfig(t, tool, "SCAR_API_TOKENS=compose-test-token-0123456789")
			if err == nil || !strings.Contains(out, "stat -c %g /var/run/docker.sock") {
				t.Errorf("without DOCKER_GID: %v, %s; want a refusal that says how to find the group", err, out)
			}
			out, err = composeConfig(t, tool, "SCAR_API_TOKENS=compose-test-token-0123456789", "DOCKER_GID=105",
				"SCAR_TELEGRAM_MODE=polling", "SCAR_API_READ_TOKENS=read-token-0123456789abc")
			if err != nil {
				t.Fatalf("config: %v\n%s", err, out)
			}
			var cfg struct {
				Services map[string]struct {
					User        string
					GroupAdd    []any `yaml:"group_add"`
					Environment map[string]*string
				}
				Networks map[string]struct {
					Ipam struct{ Config []struct{ Subnet string } }
				}
			}
			if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
				t.Fatalf("config output: %v\n%s", err, out)
			}
			scar := cfg.Services["scar"]
			if scar.User != "10001:10001" {
				t.Errorf("user = %q, want 10001:10001 (the image's scar user)", scar.User)
			}
			if len(scar.GroupAdd) != 1 || scar.GroupAdd[0] != "105" {
				t.Errorf("group_add = %v, want [105]", scar.GroupAdd)
			}
			env := scar.Environment
			for k, want := range map[string]string{
				"SCAR_TELEGRAM_MODE": "polling", "SCAR_API_READ_TOKENS": "read-token-0123456789abc",
				"SCAR_TRUSTED_PROXIES": "172.29.80.1",
			} {
				if env[k] == nil || *env[k] != want {
					t.Errorf("environment %s = %v, want %q", k, env[k], want)
				}
			}
			if v, ok := env["SCAR_TELEGRAM_TOKEN"]; !ok || v != nil {
				t.Errorf("SCAR_TELEGRAM_TOKEN unset on the host: listed %v, set %v; want listed and left unset (null)", ok, v != nil)
			}
			if n := cfg.Networks["scar"].Ipam.Config; len(n) != 1 || n[0].Subnet != "172.29.80.0/24" {
				t.Errorf("network scar: %+v, want the subnet whose gateway SCAR_TRUSTED_PROXIES names", n)
			}
		})
	}
}

// TestComposePassesEveryDocumentedVariable keeps docker-compose.yml passing every
// SCAR_ variable of README's configuration table, but those the image sets.
func TestComposePassesEveryDocumentedVariable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	setByImage := []string{"SCAR_LISTEN_ADDR", "SCAR_STATE_DIR"}
	vars := regexp.MustCompile("(?m)^\\| `(SCAR_[A-Z0-9_]+)` \\|").FindAllStringSubmatch(string(readme), -1)
	if len(vars) < 10 {
		t.Fatalf("found %d variables in README's table", len(vars))
	}
	for _, v := range vars {
		if slices.Contains(setByImage, v[1]) {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s+` + v[1] + `:`).Match(compose) {
			t.Errorf("docker-compose.yml does not pass %s to scar", v[1])
		}
	}
}

// TestDockerfileUserMatchesCompose: the image's fixed uid and gid are the Compose
// file's defaults.
func TestDockerfileUserMatchesCompose(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	uid := regexp.MustCompile(`(?m)^ARG SCAR_UID=(\d+)$`).FindSubmatch(dockerfile)
	gid := regexp.MustCompile(`(?m)^ARG SCAR_GID=(\d+)$`).FindSubmatch(dockerfile)
	if uid == nil || gid == nil {
		t.Fatal("Dockerfile has no ARG SCAR_UID=<n> and ARG SCAR_GID=<n>")
	}
	want := `user: "${SCAR_UID:-` + string(uid[1]) + `}:${SCAR_GID:-` + string(gid[1]) + `}"`
	if !bytes.Contains(compose, []byte(want)) {
		t.Errorf("docker-compose.yml has no %s", want)
	}
}

// TestHealthcheckFollowsListenAddr runs the Dockerfile's HEALTHCHECK command (as the
// image's shell would) against scar's HTTP server listening on a port of its own:
// it passes for each spelling of SCAR_LISTEN_ADDR on that port and fails for another
// port. It used to ask :8080 whatever scar listened on.
func TestHealthcheckFollowsListenAddr(t *testing.T) {
	for _, tool := range []string{"sh", "wget"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+CMD (\[.*\])$`).FindSubmatch(dockerfile)
	if m == nil || !bytes.Contains(dockerfile, []byte("HEALTHCHECK")) {
		t.Fatal("no HEALTHCHECK ... CMD [...] in the Dockerfile")
	}
	var argv []string
	if err := json.Unmarshal(m[1], &argv); err != nil || len(argv) < 2 {
		t.Fatalf("HEALTHCHECK CMD %s: %v", m[1], err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.NewServer(api.Deps{
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: metrics.New(prometheus.NewRegistry(), "test"),
		Tokens:  api.NewTokens([]string{"healthcheck-test-token-0123"}, nil),
		Ready:   func(context.Context) error { return nil },
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, otherPort, _ := net.SplitHostPort(free.Addr().String())
	free.Close()

	tests := []struct {
		addr string
		ok   bool
	}{
		{":" + port, true},
		{"0.0.0.0:" + port, true},
		{"[::]:" + port, true},
		{":" + otherPort, false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The image runs /bin/sh; here whichever sh is on the PATH.
			cmd := exec.CommandContext(ctx, "sh", argv[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SCAR_LISTEN_ADDR=" + tc.addr}
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok {
				t.Errorf("SCAR_LISTEN_ADDR=%s, scar on %s: health check error %v (%s), want ok %v", tc.addr, port, err, out, tc.ok)
			}
		})
	}
}

// TestDockerBuildContext sends the repository to the real engine as `docker build`
// does, with .dockerignore, copies the context out of the image, and builds scar
// from it: everything scar needs is in the context, and the VCS data and state are
// not.
func TestDockerBuildContext(t *testing.T) {
	cli := dockertest.Client(t)
	name := dockertest.UniqueName(t, "buildctx")
	dockertest.RemoveImagesWhenDone(t, cli, name)
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM scratch\nCOPY . /ctx/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docker := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	docker("build", "-q", "-f", df, "-t", name+":ctx", root)
	id := docker("create", name+":ctx", "/none")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	out := filepath.Join(dir, "out")
	docker("cp", id+":/ctx", out)

	for _, gone := range []string{".git", ".scar-state", ".scar-demo", "Dockerfile", ".dockerignore"} {
		if _, err := os.Lstat(filepath.Join(out, gone)); err == nil {
			t.Errorf("the build context holds %s", gone)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "scar"), "./cmd/scar")
	build.Dir = out
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if b, err := build.CombinedOutput(); err != nil {
		t.Errorf("go build ./cmd/scar in the build context: %v\n%s", err, b)
	}
}
