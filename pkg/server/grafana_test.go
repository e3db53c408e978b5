package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// dashboardFile is the Grafana dashboard shipped for podboot's own metrics.
const dashboardFile = "../../docs/grafana/podboot-dashboard.json"

// TestGrafanaDashboardQueries checks every query of docs/grafana/podboot-dashboard.json
// against what a real server's metrics registry describes (vectors without samples
// included): each metric it names is exported (a histogram's _bucket, _sum and _count
// count as its own), and each label it selects on or groups by is one of that metric's
// labels (or job, instance, le, which Prometheus and histograms add).
func TestGrafanaDashboardQueries(t *testing.T) {
	metrics := exportedMetrics(t)
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	queries := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			for _, problem := range checkQuery(tg.Expr, metrics) {
				t.Errorf("panel %q: %s: %s", p.Title, tg.Expr, problem)
			}
		}
	}
	if queries < 20 {
		t.Fatalf("the dashboard has %d queries; it should cover podboot's metrics", queries)
	}
}

var (
	metricRef   = regexp.MustCompile(`\b((?:podboot|process|go)_[a-z0-9_]+)\b(\{[^}]*\})?`)
	matcherName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// added are labels every series may have without its Desc naming them.
var added = []string{"job", "instance", "le"}

// checkQuery names what in a PromQL expression podboot does not export.
func checkQuery(expr string, metrics map[string][]string) []string {
	var problems []string
	var used []string // labels of the metrics the query reads
	for _, m := range metricRef.FindAllStringSubmatch(expr, -1) {
		labels, ok := metrics[m[1]]
		if !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, cut := strings.CutSuffix(m[1], suffix); cut {
					labels, ok = metrics[base]
				}
			}
		}
		if !ok {
			problems = append(problems, "podboot exports no metric "+m[1])
			continue
		}
		used = append(used, labels...)
		for _, mm := range matcherName.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(labels, mm[1]) && !slices.Contains(added, mm[1]) {
				problems = append(problems, m[1]+" has no label "+mm[1])
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(used, l) && !slices.Contains(added, l) {
				problems = append(problems, "groups by "+l+", a label none of its metrics has")
			}
		}
	}
	return problems
}

// TestCheckQueryFindsMistakes: the checker refuses an unknown metric, a wrong selector
// label and a wrong grouping label, and passes a histogram's bucket series.
func TestCheckQueryFindsMistakes(t *testing.T) {
	metrics := map[string][]string{"podboot_x_total": {"pod"}, "podboot_h_seconds": nil}
	for _, tc := range []struct {
		expr string
		bad  int
	}{
		{`sum by (pod) (rate(podboot_x_total{pod=~"$pod"}[5m]))`, 0},
		{`histogram_quantile(0.99, sum by (le) (rate(podboot_h_seconds_bucket[5m])))`, 0},
		{`rate(podboot_y_total[5m])`, 1},
		{`podboot_x_total{relay="a"}`, 1},
		{`sum by (relay) (podboot_x_total)`, 1},
	} {
		if got := checkQuery(tc.expr, metrics); len(got) != tc.bad {
			t.Errorf("%s: %v, want %d problems", tc.expr, got, tc.bad)
		}
	}
}

// exportedMetrics opens a server on loopback ports and returns every metric its
// Prometheus registry describes with its variable labels.
func exportedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	s, err := Open(context.Background(), testConfig(t, filepath.Join(t.TempDir(), "data"), newTestPorts(t)), discardLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }() // Run drains the listeners and closes the stores
	<-s.Ready
	ch := make(chan *prometheus.Desc)
	go func() { s.prom.Describe(ch); close(ch) }()
	// Desc has no accessors; its String form is Desc{fqName: "x", ..., variableLabels: {a,b}}.
	re := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil {
			var labels []string
			if m[2] != "" {
				labels = strings.Split(m[2], ",")
			}
			out[m[1]] = labels
		}
	}
	if len(out) < 20 {
		t.Fatalf("the registry describes %d metrics; the Desc format may have changed", len(out))
	}
	return out
}
