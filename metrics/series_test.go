package metrics_test

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/metrics"
)

// TestProjectSeriesStartAtZero: a counter born at 1 by its first increment is
// invisible to increase() and rate(), so the first failed deploy after a start never
// fired an alert. Every project's deploy outcomes and operation outcomes are served
// at 0 from the first scrape, a project added to the projects file gets them at the
// next scrape, and a removed project's series stay (a counter that vanishes and
// comes back reads as a reset).
func TestProjectSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	names := []string{"alpha", "beta"}
	m.TrackProjects(func() []string { return names })

	check := func(projects []string) {
		t.Helper()
		deploys, ops := gather(t, reg)
		for _, p := range projects {
			for _, o := range metrics.DeployOutcomes {
				if v, ok := deploys[p+" "+o]; !ok || v != 0 {
					t.Errorf("scar_deployments_total{project=%q,outcome=%q}: served %v, value %v; want served at 0", p, o, ok, v)
				}
			}
			for _, op := range metrics.Operations {
				for _, o := range []string{metrics.OutcomeSuccess, metrics.OutcomeError} {
					if n, ok := ops[op+" "+p+" "+o]; !ok || n != 0 {
						t.Errorf("scar_operation_duration_seconds{operation=%q,project=%q,outcome=%q}: served %v, count %d; want served at 0", op, p, o, ok, n)
					}
				}
			}
		}
		if len(deploys) != len(projects)*len(metrics.DeployOutcomes) {
			t.Errorf("scar_deployments_total has %d series, want %d: %v", len(deploys), len(projects)*len(metrics.DeployOutcomes), deploys)
		}
	}
	check(names)

	names = append(names, "gamma") // a reload added a project
	check(names)

	m.DeploymentsTotal.WithLabelValues("alpha", "failed_rolled_back").Inc()
	names = []string{"beta"} // a reload removed two
	deploys, _ := gather(t, reg)
	if v := deploys["alpha failed_rolled_back"]; v != 1 {
		t.Errorf("alpha failed_rolled_back = %v after one increment, want 1", v)
	}
	if len(deploys) != 3*len(metrics.DeployOutcomes) {
		t.Errorf("after removing projects: %d series, want %d (removed projects keep theirs)", len(deploys), 3*len(metrics.DeployOutcomes))
	}
}

// gather scrapes reg and returns scar_deployments_total by "project outcome" and the
// observation count of scar_operation_duration_seconds by "operation project outcome".
func gather(t *testing.T, reg *prometheus.Registry) (map[string]float64, map[string]uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	deploys, ops := map[string]float64{}, map[string]uint64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range s.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetName() {
			case "scar_deployments_total":
				deploys[l["project"]+" "+l["outcome"]] = s.GetCounter().GetValue()
			case "scar_operation_duration_seconds":
				ops[l["operation"]+" "+l["project"]+" "+l["outcome"]] = s.GetHistogram().GetSampleCount()
			}
		}
	}
	return deploys, ops
}

// TestOutcomeListsMatchDockerops keeps the pre-created label values the ones dockerops
// counts with. cancelled (a cancelled deploy) is listed whether or not dockerops
// names it yet.
func TestOutcomeListsMatchDockerops(t *testing.T) {
	for _, s := range []string{dockerops.DeploySuccess, dockerops.DeployFailedRolledBack, dockerops.DeployRollbackFailed, dockerops.DeployNothingToDo, "cancelled"} {
		if !slices.Contains(metrics.DeployOutcomes, s) {
			t.Errorf("deploy status %q is not in metrics.DeployOutcomes", s)
		}
	}
	for _, op := range []string{dockerops.OpStatus, dockerops.OpLogs, dockerops.OpFollow, dockerops.OpStats, dockerops.OpRestart, dockerops.OpStop, dockerops.OpStart, dockerops.OpDeploy, dockerops.OpRollback, dockerops.OpFetch} {
		if !slices.Contains(metrics.Operations, op) {
			t.Errorf("operation %q is not in metrics.Operations", op)
		}
	}
}
