package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DeployOutcomes are the outcome label values of scar_deployments_total: the final
// statuses of a deploy or rollback record.
var DeployOutcomes = []string{"success", "failed_rolled_back", "rollback_failed", "nothing_to_do", "cancelled"}

// Operations are the operation label values of scar_operation_duration_seconds.
var Operations = []string{"status", "logs", "follow", "stats", "restart", "stop", "start", "deploy", "rollback", "fetch"}

// TrackProjects makes every project's series exist at 0 before anything happens to
// it: scar_deployments_total for each outcome in DeployOutcomes, and
// scar_operation_duration_seconds for each operation in Operations with outcome
// success and error. A series born at 1 by its first increment is invisible to
// increase() and rate(), so without this the first failed deploy after every start
// fired no alert, and the dashboard had no deploy series to show.
//
// names is called now and at every scrape, so that projects added by a reload of the
// projects file are covered without a reload hook. Series of projects removed from
// the file stay: a counter that vanishes and comes back reads as a reset.
// Series of unknown projects (outcome="unknown_project", project="") are not made.
func (m *Metrics) TrackProjects(names func() []string) {
	m.projectNames.Store(&names)
	m.presetProjectSeries()
}

func (m *Metrics) presetProjectSeries() {
	names := m.projectNames.Load()
	if names == nil {
		return
	}
	for _, p := range (*names)() {
		for _, o := range DeployOutcomes {
			m.DeploymentsTotal.WithLabelValues(p, o)
		}
		for _, op := range Operations {
			m.OperationDuration.WithLabelValues(op, p, OutcomeSuccess)
			m.OperationDuration.WithLabelValues(op, p, OutcomeError)
		}
	}
}

// projectSeries is registered in place of DeploymentsTotal and OperationDuration:
// it collects them after making the tracked projects' series.
type projectSeries struct {
	m *Metrics
}

var _ prometheus.Collector = projectSeries{}

func (c projectSeries) Describe(ch chan<- *prometheus.Desc) {
	c.m.DeploymentsTotal.Describe(ch)
	c.m.OperationDuration.Describe(ch)
}

func (c projectSeries) Collect(ch chan<- prometheus.Metric) {
	c.m.presetProjectSeries()
	c.m.DeploymentsTotal.Collect(ch)
	c.m.OperationDuration.Collect(ch)
}

// projectNamesFunc holds the function TrackProjects was given.
type projectNamesFunc = atomic.Pointer[func() []string]
