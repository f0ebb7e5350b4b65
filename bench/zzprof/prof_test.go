package zzprof

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

func TestProf(t *testing.T) {
	dir := os.Getenv("RUNDIR")
	ctx := context.Background()
	ps, err := projects.NewStore(dir+"/scar-projects.json", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := t.TempDir()
	db, _ := store.Open(ctx, st)
	files, _ := deployments.New(deployments.Config{StateDir: st, Journal: db})
	docker, _ := dockerops.NewClient("")
	m := metrics.New(prometheus.NewRegistry(), "x")
	pend := func(ctx context.Context, p *projects.Project) (bool, error) {
		plan, err := files.Plan(ctx, p)
		if err != nil {
			return false, err
		}
		return !plan.Empty(), nil
	}
	for _, withPending := range []bool{false, true} {
		opts := []dockerops.Option{}
		if withPending {
			opts = append(opts, dockerops.WithPendingChanges(pend))
		}
		svc := dockerops.New(docker, ps, m, nil, opts...)
		var ds []time.Duration
		for range 30 {
			s := time.Now()
			if _, err := svc.Status(ctx, "status"); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(s))
		}
		t.Logf("pending=%v %v", withPending, ds)
	}
	p, _ := ps.Resolve("status")
	var ds []time.Duration
	for range 30 {
		s := time.Now()
		pend(ctx, p)
		ds = append(ds, time.Since(s))
	}
	t.Logf("plan only %v", ds)
}

func BenchmarkStatus(b *testing.B) {
	dir := os.Getenv("RUNDIR")
	ctx := context.Background()
	ps, _ := projects.NewStore(dir+"/scar-projects.json", "", nil)
	st := b.TempDir()
	db, _ := store.Open(ctx, st)
	files, _ := deployments.New(deployments.Config{StateDir: st, Journal: db})
	docker, _ := dockerops.NewClient("")
	m := metrics.New(prometheus.NewRegistry(), "x")
	pend := func(ctx context.Context, p *projects.Project) (bool, error) {
		plan, err := files.Plan(ctx, p)
		if err != nil {
			return false, err
		}
		return !plan.Empty(), nil
	}
	svc := dockerops.New(docker, ps, m, nil, dockerops.WithPendingChanges(pend))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Status(ctx, "status"); err != nil {
			b.Fatal(err)
		}
	}
}
