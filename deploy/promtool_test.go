package deploy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scar-dev/scar/metrics"
)

// promtool returns the path of Prometheus's promtool (Debian's prometheus package).
// Without it the test skips, unless CI=true or SCAR_TEST_DOCKER=required (.ci/run sets
// it, and installs the package): then it fails.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" || os.Getenv("SCAR_TEST_DOCKER") == "required" {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	t.Skipf("promtool not found (apt-get install prometheus); skipping: %v", err)
	return ""
}

// TestAlertRulesPromtool checks the rule file with promtool and runs its unit tests
// (prometheus/scar-alerts.test.yml: each rule fires on what it is for and stays
// quiet otherwise), and that every rule has a test.
func TestAlertRulesPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "scar-alerts.yml"},
		{"test", "rules", "scar-alerts.test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	tests, err := os.ReadFile(filepath.Join("prometheus", "scar-alerts.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range alertNames(t) {
		if !strings.Contains(string(tests), "alertname: "+name+"\n") {
			t.Errorf("scar-alerts.test.yml has no test of %s", name)
		}
	}
}

// TestFirstFailedDeployAfterStartAlerts scrapes scar's own /metrics once a minute (in
// promtool's time) after a start, with one failed deploy after five minutes, and
// asks promtool whether ScarDeployFailed fires. A series born at 1 by its first
// increment is invisible to increase(): the first failure after every start used to
// be missed.
func TestFirstFailedDeployAfterStartAlerts(t *testing.T) {
	bin := promtool(t)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	m.TrackProjects(func() []string { return []string{"demo", "shop"} }) // as cmd/scar does at start
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)

	series := map[string][]string{} // labels → one value per scrape, "_" when absent
	const scrapes = 10
	for i := range scrapes {
		if i == 5 {
			m.DeploymentsTotal.WithLabelValues("demo", "failed_rolled_back").Inc()
		}
		for labels, v := range scrapeSeries(t, srv.URL, "scar_deployments_total") {
			if series[labels] == nil {
				series[labels] = slices.Repeat([]string{"_"}, i)
			}
			series[labels] = append(series[labels], v)
		}
		for labels, vs := range series {
			if len(vs) == i {
				series[labels] = append(vs, "_")
			}
		}
	}

	var in strings.Builder
	keys := make([]string, 0, len(series))
	for k := range series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&in, "      - series: 'scar_deployments_total{job=\"scar\",%s}'\n        values: '%s'\n", k, strings.Join(series[k], " "))
	}
	rules, err := filepath.Abs(filepath.Join("prometheus", "scar-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	test := fmt.Sprintf(`rule_files: [%q]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
%s    alert_rule_test:
      - eval_time: 9m
        alertname: ScarDeployFailed
        exp_alerts:
          - exp_labels: {severity: warning, job: scar, project: demo, outcome: failed_rolled_back}
            exp_annotations:
              summary: "A deploy of demo failed and was rolled back"
              description: "The old version runs again; the deploy record names the failing step and the container's last log lines."
`, rules, in.String())
	file := filepath.Join(t.TempDir(), "first-failure.test.yml")
	if err := os.WriteFile(file, []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "test", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("the first failed deploy after a start fires no ScarDeployFailed: %v\n%s\nthe test promtool ran:\n%s", err, out, test)
	}
}

// scrapeSeries GETs url and returns the samples of metric, by their label set as
// written (`outcome="success",project="demo"`).
func scrapeSeries(t *testing.T, url, metric string) map[string]string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, metric+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			t.Fatalf("unexpected sample line %q", line)
		}
		got[labels] = value
	}
	return got
}

// alertNames returns the names of the rules in prometheus/scar-alerts.yml.
func alertNames(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("prometheus", "scar-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "- alert: "); ok {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no alert rules found")
	}
	return names
}
