// Package deploy holds what runs beside scar: the Grafana dashboard (grafana/) and the
// Prometheus alert rules (prometheus/). Its test checks them against the metrics scar
// serves.
package deploy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/scar-dev/scar/api"
	"github.com/scar-dev/scar/metrics"
)

// metricName finds the names of scar's own, Go's and the process's metrics in PromQL.
// Other identifiers (functions, labels, keywords) never start with these prefixes;
// up is Prometheus's own series, not scar's.
var metricName = regexp.MustCompile(`\b(?:scar|go|process)_[a-zA-Z0-9_]*[a-zA-Z0-9]\b`)

func TestDashboardAndAlertsNameOnlyServedMetrics(t *testing.T) {
	served := scrape(t)
	tests := []struct {
		name  string
		exprs func(t *testing.T) []string
	}{
		{"grafana/scar-dashboard.json", dashboardExprs},
		{"prometheus/scar-alerts.yml", alertExprs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exprs := tc.exprs(t)
			if len(exprs) == 0 {
				t.Fatal("no PromQL expressions found")
			}
			named := map[string]bool{}
			for _, e := range exprs {
				for _, m := range metricName.FindAllString(e, -1) {
					named[m] = true
				}
			}
			var missing []string
			for m := range named {
				if !served[m] {
					missing = append(missing, m)
				}
			}
			slices.Sort(missing)
			if len(missing) > 0 {
				t.Errorf("%s names metrics that scar's /metrics does not serve: %v", tc.name, missing)
			}
		})
	}
}

// TestEveryScarMetricIsOnTheDashboard keeps the dashboard complete as metrics are added.
func TestEveryScarMetricIsOnTheDashboard(t *testing.T) {
	exprs := strings.Join(dashboardExprs(t), "\n")
	for m := range scrape(t) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(m, "scar_") && !strings.Contains(exprs, base) {
			t.Errorf("the dashboard shows nothing of %s", m)
		}
	}
}

// scrape serves /metrics as cmd/scar does (scar's collectors, the per-container ones,
// Go's and the process's on one registry, behind api.NewServer) and returns the names of the series served.
// A vector has no series until a label set is used, and a histogram shows its
// _bucket, _sum and _count only once observed: every scar vector gets one observation
// first, so that what is checked is the set of metrics scar can serve.
func scrape(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg, "test")
	observeAll(t, m)
	// The per-container series of SCAR_CONTAINER_METRICS, from one running container.
	reg.MustRegister(metrics.NewContainerCollector(func(context.Context) ([]metrics.ContainerSample, error) {
		return []metrics.ContainerSample{{Project: "x", Container: "x-web-1", Service: "web", Found: true, Running: true, Health: "healthy"}}, nil
	}, time.Minute, nil))

	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:         slog.New(slog.DiscardHandler),
		Metrics:        m,
		Tokens:         api.NewTokens([]string{"deploy-test-token-0123456789"}, nil),
		Ready:          func(context.Context) error { return nil },
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	}))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", res.StatusCode, err)
	}
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		served[name] = true
	}
	if !served["scar_operation_duration_seconds_bucket"] {
		t.Fatalf("scrape holds no scar histogram: %s", body)
	}
	return served
}

// observeAll gives every vector of m one series: it finds each vector's label count
// by trying, so that a metric added to metrics.Metrics is covered without a change here.
func observeAll(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		field := v.Type().Field(i).Name
		var err error
		switch vec := v.Field(i).Interface().(type) {
		case *prometheus.HistogramVec:
			err = withLabels(func(l []string) error {
				o, err := vec.GetMetricWithLabelValues(l...)
				if err == nil {
					o.Observe(0.1)
				}
				return err
			})
		case *prometheus.CounterVec:
			err = withLabels(func(l []string) error {
				c, err := vec.GetMetricWithLabelValues(l...)
				if err == nil {
					c.Inc()
				}
				return err
			})
		case *prometheus.GaugeVec:
			err = withLabels(func(l []string) error {
				g, err := vec.GetMetricWithLabelValues(l...)
				if err == nil {
					g.Set(1)
				}
				return err
			})
		case prometheus.Histogram: // one without labels
			vec.Observe(0.1)
		default:
			t.Fatalf("metrics.Metrics.%s is a %T: teach observeAll about it", field, vec)
		}
		if err != nil {
			t.Fatalf("metrics.Metrics.%s: %v", field, err)
		}
	}
}

// withLabels calls use with 0, 1, 2, ... label values until the count is right.
func withLabels(use func([]string) error) error {
	var err error
	for n := range 10 {
		labels := make([]string, n)
		for i := range labels {
			labels[i] = "x"
		}
		if err = use(labels); err == nil {
			return nil
		}
	}
	return err
}

// dashboardExprs returns every PromQL expression of the dashboard: its panels'
// targets and its template variables' queries.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("grafana", "scar-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Type       string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			exprs = append(exprs, v.Definition)
		}
	}
	return exprs
}

// alertExprs returns every rule's expression, checking the file's shape on the way:
// each rule alerts, has an expression, a severity and a summary.
func alertExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("prometheus", "scar-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	var exprs []string
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("group %s: rule %q needs alert, expr, labels.severity and annotations.summary", g.Name, r.Alert)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}
