package dockerops

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/bench/files/gentree"
)

// BenchmarkDeployOneFile times a deploy of one changed, bind-mounted file (web is
// restarted, nothing rebuilt) in a project with a 10k-file tree, stage by stage, next
// to its floor: a Restart of web, which waits for it the same way. The metrics are
// medians: plan-ms is Deploy's call (the plan, made under the lock), the others the
// time from one event of the deploy to the next.
func BenchmarkDeployOneFile(b *testing.B) {
	// The server's poll interval (service.go), not the tests' shorter one.
	e := newDeployEnvWith(b, nil, composeTemplate, true, WithPollInterval(200*time.Millisecond))
	if _, err := gentree.Generate(filepath.Join(e.p.Workspace, "lib"), 10000, 1); err != nil {
		b.Fatal(err)
	}
	// Production starts as the workspace is: the first deploy has nothing to do.
	if out, err := exec.Command("cp", "-a", filepath.Join(e.p.Workspace, "lib"), e.p.Production).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v: %s", err, out)
	}
	ctx := context.Background()
	round := 0
	b.Run("deploy", func(b *testing.B) {
		b.ReportAllocs()
		stages := map[string][]time.Duration{}
		for b.Loop() {
			b.StopTimer()
			round++
			e.waitHealthy("web")
			e.edit("content/index.txt", fmt.Sprintf("content v%d\n%s", round, strings.Repeat("#", round%13)))
			b.StartTimer()
			start := time.Now()
			d, err := e.svc.Deploy(ctx, e.p.Name, Actor{Name: "bench"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			stages["plan"] = append(stages["plan"], time.Since(start))
			d = e.wait(d.ID)
			if d.Status != DeploySuccess || !slices.Equal(d.Plan.Restart, []string{e.p.Name + "-web-1"}) {
				b.Fatalf("deploy %s (%s), restart %v", d.Status, d.Error, d.Plan.Restart)
			}
			prev := d.StartedAt
			for i, ev := range d.Events {
				name := fmt.Sprintf("%d-%s", i, ev.Stage)
				stages[name] = append(stages[name], ev.Time.Sub(prev))
				prev = ev.Time
			}
			stages["total"] = append(stages["total"], stages["plan"][len(stages["plan"])-1]+d.FinishedAt.Sub(d.StartedAt))
		}
		for name, ds := range stages {
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-ms")
		}
	})
	// plan-parts times, apart, the two halves plan runs at once: the files' plan of
	// the 10k-file tree and production's Compose view (`compose config`, twice).
	b.Run("plan-parts", func(b *testing.B) {
		e.edit("content/index.txt", fmt.Sprintf("content v%d\n", round+100))
		target := composeTarget{workspace: e.p.Workspace, production: e.p.Production, project: e.p.ComposeProject}
		b.ReportAllocs()
		var files, compose []time.Duration
		for b.Loop() {
			start := time.Now()
			if pl, err := e.svc.files.Plan(ctx, e.p); err != nil || len(pl.Changed) != 1 {
				b.Fatalf("plan: %v", err)
			}
			files = append(files, time.Since(start))
			start = time.Now()
			if _, err := e.svc.beforeView(ctx, target); err != nil {
				b.Fatal(err)
			}
			compose = append(compose, time.Since(start))
		}
		slices.Sort(files)
		slices.Sort(compose)
		b.ReportMetric(float64(files[len(files)/2].Microseconds())/1000, "files-ms")
		b.ReportMetric(float64(compose[len(compose)/2].Microseconds())/1000, "compose-ms")
	})
	b.Run("restart-floor", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		for b.Loop() {
			b.StopTimer()
			e.waitHealthy("web")
			b.StartTimer()
			start := time.Now()
			res, err := e.svc.Restart(ctx, e.p.Name, RestartRequest{Containers: []string{"web"}}, Actor{Name: "bench"}, nil)
			if err != nil || !res.OK {
				b.Fatalf("restart: %+v, %v", res, err)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "total-ms")
	})
}
