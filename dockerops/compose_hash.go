package dockerops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// composeView is a Compose file as Compose sees it: its services, and each service's
// configuration hash (`config --hash '*'`, the value Compose stores in the
// com.docker.compose.config-hash label and compares at `up` to decide what to
// recreate). Both tools print "<service> <hash>" per line.
type composeView struct {
	services map[string]composeService
	hashes   map[string]string
	// approx says why the hashes could not be compared with production's ("" when
	// they can): the workspace's Compose file was read in the workspace.
	approx string
}

// View reads the Compose file in dir: `config` and `config --hash '*'`, run at once.
// pre are global options before the command (--project-directory, -f, --env-file).
// A view read within composeViewTTL from the same files is reused (see composeViews).
func (c *Compose) View(ctx context.Context, dir, project, dockerHost string, pre ...string) (composeView, error) {
	argv, err := c.Command(ctx)
	if err != nil {
		return composeView{}, err
	}
	if dockerHost == "" {
		dockerHost = c.dockerHost
	}
	// The key is taken before Compose runs: a file edited while it reads makes the
	// next key differ from this one.
	key := composeViewKey(argv, dir, project, dockerHost, pre)
	if v, ok := c.views.get(key, time.Now()); ok {
		return v, nil
	}
	v, err := c.readView(ctx, dir, project, dockerHost, pre...)
	if err == nil {
		c.views.put(key, v, time.Now())
	}
	return v, err
}

// readView runs Compose for View.
func (c *Compose) readView(ctx context.Context, dir, project, dockerHost string, pre ...string) (composeView, error) {
	var (
		wg            sync.WaitGroup
		v             composeView
		cfgOut, hOut  string
		cfgErr, hErr  error
		pre1, pre2    = append([]string{}, pre...), append([]string{}, pre...)
		projectDirArg = dir
	)
	for i, a := range pre {
		if a == "--project-directory" && i+1 < len(pre) {
			projectDirArg = pre[i+1]
		}
	}
	wg.Go(func() { cfgOut, cfgErr = c.Output(ctx, dir, project, dockerHost, append(pre1, "config")...) })
	wg.Go(func() { hOut, hErr = c.Output(ctx, dir, project, dockerHost, append(pre2, "config", "--hash", "*")...) })
	wg.Wait()
	if err := errors.Join(cfgErr, hErr); err != nil {
		return v, err
	}
	services, err := parseComposeConfig([]byte(cfgOut), projectDirArg)
	if err != nil {
		return v, err
	}
	return composeView{services: services, hashes: parseConfigHashes(hOut)}, nil
}

// parseConfigHashes reads `config --hash` output (standard output alone: Compose warns
// on stderr of every variable the child environment leaves unset); any other line is
// skipped.
func parseConfigHashes(out string) map[string]string {
	hashes := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && len(f[1]) == 64 && strings.Trim(f[1], "0123456789abcdef") == "" {
			hashes[f[0]] = f[1]
		}
	}
	return hashes
}

// composeFileNames are the files Compose reads by default, in its order of preference,
// each with its override file.
var composeFileNames = [][2]string{
	{"compose.yaml", "compose.override.yaml"},
	{"compose.yml", "compose.override.yml"},
	{"docker-compose.yaml", "docker-compose.override.yaml"},
	{"docker-compose.yml", "docker-compose.override.yml"},
}

// defaultComposeFiles returns the Compose files dir holds as Compose would pick them:
// the first default file found and its override; nil when there is none.
func defaultComposeFiles(dir string) []string {
	for _, pair := range composeFileNames {
		if _, err := os.Stat(filepath.Join(dir, pair[0])); err != nil {
			continue
		}
		files := []string{filepath.Join(dir, pair[0])}
		if _, err := os.Stat(filepath.Join(dir, pair[1])); err == nil {
			files = append(files, filepath.Join(dir, pair[1]))
		}
		return files
	}
	return nil
}

// beforeView is the project's Compose view before the deploy: production as it is;
// empty when production has no Compose file yet.
func (s *Service) beforeView(ctx context.Context, p composeTarget) (composeView, error) {
	if len(defaultComposeFiles(p.production)) == 0 {
		return composeView{services: map[string]composeService{}, hashes: map[string]string{}}, nil
	}
	return s.compose.View(ctx, p.production, p.project, p.dockerHost)
}

// afterView is the project's Compose view after the deploy, known before anything in
// production changes, so that the plan shown for confirmation already names every
// service's action: the workspace's Compose files read with production as the project
// directory (`--project-directory <production> -f <workspace>/<file>`), so that
// relative paths (bind mounts, build contexts) resolve as they will once synced and
// every hash compares with production's; with the workspace's .env when the deploy
// ships it. A deploy that changes no Compose file and no .env has before's view.
func (s *Service) afterView(ctx context.Context, p composeTarget, before composeView, composeChanged, shipsEnv bool) (composeView, error) {
	wsFiles := defaultComposeFiles(p.workspace)
	if (!composeChanged && !shipsEnv) || len(wsFiles) == 0 {
		return before, nil
	}
	pre := []string{"--project-directory", p.production}
	for _, f := range wsFiles {
		pre = append(pre, "-f", f)
	}
	if shipsEnv {
		pre = append(pre, "--env-file", filepath.Join(p.workspace, ".env"))
	}
	after, err := s.compose.View(ctx, p.production, p.project, p.dockerHost, pre...)
	if err == nil {
		return after, nil
	}
	// Read against production, the file can name what only the sync brings (an
	// env_file added with it). Read in the workspace, its paths are the workspace's:
	// every service whose hash then differs is recreated, which is more than needed
	// but never less.
	ws, wsErr := s.compose.View(ctx, p.workspace, p.project, p.dockerHost)
	if wsErr != nil {
		return after, err
	}
	ws.approx = lastLines(err.Error(), 1)
	for name, svc := range ws.services {
		// The build as it will read once synced to production.
		svc.BuildContext = strings.Replace(svc.BuildContext, p.workspace, p.production, 1)
		svc.Build = strings.ReplaceAll(svc.Build, p.workspace, p.production)
		ws.services[name] = svc
	}
	return ws, nil
}

// composeFilesDiffer reports whether the workspace's Compose files differ from
// production's by name or bytes: a cheap early sign that the deploy changes them.
func composeFilesDiffer(p composeTarget) bool {
	ws, prod := defaultComposeFiles(p.workspace), defaultComposeFiles(p.production)
	if len(ws) == 0 {
		return false
	}
	if len(ws) != len(prod) {
		return true
	}
	for i := range ws {
		if filepath.Base(ws[i]) != filepath.Base(prod[i]) {
			return true
		}
		a, errA := os.ReadFile(ws[i])
		b, errB := os.ReadFile(prod[i])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			return true
		}
	}
	return false
}

// composeTarget is what composeViews needs of a project.
type composeTarget struct {
	workspace, production, project, dockerHost string
}
