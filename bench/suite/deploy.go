package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// changeFile gives the deploy project's workspace a new version of the file its web
// container reads through a bind mount (a new size each time, so that a size and
// mtime comparison sees it).
func (s *suite) changeFile() error {
	s.version++
	text := fmt.Sprintf("version %d\n%s", s.version, strings.Repeat("#", s.version%13))
	return os.WriteFile(filepath.Join(s.f.deploy.workspace, "content", "index.txt"), []byte(text), 0o644)
}

// deployment is what the suite reads of a deployment record.
type deployment struct {
	ID     string
	Status string
	Error  string
	Plan   struct{ Changed, Restart []string }
	Events []struct {
		Time    time.Time
		Stage   string
		Message string
	}
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// deployScar starts a deploy of the deploy project and polls it every 5 ms until it
// ends; it must succeed.
func (s *suite) deployScar() (*deployment, error) { return s.deployScarOf("deploy") }

// deployScarOf is deployScar of project.
func (s *suite) deployScarOf(project string) (*deployment, error) {
	data, err := s.scar.do("POST", "/api/v1/projects/"+project+"/deploy", "", 202)
	if err != nil {
		return nil, err
	}
	var d deployment
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for d.Status == "running" || d.Status == "" {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("deploy %s still running after 2m", d.ID)
		}
		time.Sleep(5 * time.Millisecond)
		data, err := s.scar.do("GET", "/api/v1/deployments/"+d.ID, "")
		if err != nil {
			return nil, err
		}
		d = deployment{}
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, err
		}
	}
	if d.Status != "success" {
		return &d, fmt.Errorf("deploy %s: %s: %s", d.ID, d.Status, d.Error)
	}
	return &d, nil
}

func (s *suite) planRows() error {
	p := s.f.deploy
	ctx := s.ctx
	cs := []contender{
		{name: "scar POST /deploy dry_run (REST)", run: func() error {
			data, err := s.scar.do("POST", "/api/v1/projects/deploy/deploy", `{"dry_run":true}`)
			if err != nil {
				return err
			}
			var res struct {
				Nothing bool `json:"nothing_to_deploy"`
			}
			if err := json.Unmarshal(data, &res); err != nil || !res.Nothing {
				return fmt.Errorf("dry run: want nothing to deploy, got %s", data)
			}
			return nil
		}},
		{name: "rsync -a -n", run: cli(ctx, "", "rsync", "-a", "-n", "--exclude", ".git", "--exclude", "__pycache__", "--exclude", "*.pyc", p.workspace+"/", p.production+"/")},
	}
	if err := warm(cs...); err != nil {
		return err
	}
	res, err := s.alternate(fmt.Sprintf("deploy plan, %d files unchanged", s.opts.treeFiles), s.opts.runs*6, cs...)
	if err != nil {
		return err
	}
	scar := median(res[0])
	s.t.timeRow(fmt.Sprintf("deploy plan, %d files unchanged, via REST (dry run)", s.opts.treeFiles), scar, cs[1].name, median(res[1]),
		"≤ 0.5 s and ≤ 0.3×", func(r float64) bool { return r <= 0.3 && scar <= 500*time.Millisecond })
	return nil
}

func (s *suite) deployRows() error {
	p := s.f.deploy
	ctx := s.ctx
	web := []string{p.container("web")}
	healthy := func() error { return s.waitHealthy(web) }
	var last *deployment
	seed := exec.CommandContext(ctx, filepath.Join(s.opts.root, "bench", "peers", "seed_deploy.sh"), p.workspace, p.production, p.name)
	seedEnv := append(os.Environ(), "SEED_COMPOSE="+strings.Join(s.composeMain, " "))
	cs := []contender{
		{name: "scar POST /deploy, until done (REST)", prepare: func() error {
			if err := healthy(); err != nil {
				return err
			}
			return s.changeFile()
		}, run: func() error {
			d, err := s.deployScar()
			last = d
			return err
		}},
		{name: "scar POST /restart of web (REST)", prepare: healthy, run: func() error {
			return s.restartOK("deploy", `{"containers":["web"]}`, 1)
		}},
		{name: "seed: rsync -av + compose up -d", prepare: func() error {
			if err := healthy(); err != nil {
				return err
			}
			return s.changeFile()
		}, run: func() error {
			cmd := exec.CommandContext(ctx, seed.Path, seed.Args[1:]...)
			cmd.Env = seedEnv
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%w: %s", err, lastLines(string(out), 5))
			}
			return nil
		}},
		{name: "docker restart web (CLI, no health wait)", prepare: healthy, run: cli(ctx, "", "docker", "restart", web[0])},
	}
	res, err := s.alternate("deploy of one changed file, no rebuild", s.opts.restartRuns+1, cs...)
	if err != nil {
		return err
	}
	if err := healthy(); err != nil {
		return err
	}
	deploy, restart := median(res[0]), median(res[1])
	s.t.timeRow(fmt.Sprintf("deploy of 1 changed file (%d-file tree), no rebuild, until done", s.opts.treeFiles), deploy, "scar restart of web + 0.3 s", restart+300*time.Millisecond,
		"≤ 1.0×", func(r float64) bool { return r <= 1 })
	s.t.timeRow("", deploy, cs[1].name, restart, "", nil)
	s.t.timeRow("", deploy, cs[2].name+" (no restart)", median(res[2]), "", nil)
	s.t.timeRow("", deploy, cs[3].name, median(res[3]), "", nil)
	if last != nil {
		fmt.Fprintf(s.out, "  stages of the last scar deploy (%s, plan: changed %v, restart %v):\n", fmtDur(last.FinishedAt.Sub(last.StartedAt)), last.Plan.Changed, last.Plan.Restart)
		prev := last.StartedAt
		for _, e := range last.Events {
			fmt.Fprintf(s.out, "    +%-9s %-8s %s\n", fmtDur(e.Time.Sub(prev)), e.Stage, e.Message)
			prev = e.Time
		}
	}
	return nil
}
