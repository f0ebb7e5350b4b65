package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/store"
)

func TestRESTAlertsListsIncidentsOpenFirst(t *testing.T) {
	d := testDeps(t, nil)
	db := d.Audit.(*store.DB)
	d.Incidents = db
	h := NewServer(d)
	ctx := context.Background()
	now := time.Now()
	open := func(project, container, kind string, at time.Time) store.Incident {
		t.Helper()
		in, err := db.OpenIncident(ctx, store.Incident{Project: project, Container: container, ContainerID: container + "-id",
			Kind: kind, EventAt: at, OpenedAt: at, Summary: kind + " of " + container})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	old := open("demo", "web", store.KindDied, now.Add(-3*time.Hour))
	old.State, old.ResolvedAt, old.UpdatedAt = store.IncidentResolved, now.Add(-2*time.Hour), now.Add(-2*time.Hour)
	if _, err := db.UpdateIncident(ctx, old); err != nil {
		t.Fatal(err)
	}
	open("demo", "worker", store.KindOOM, now.Add(-30*time.Minute))
	open("other", "db", store.KindUnhealthy, now.Add(-10*time.Minute))

	type alert struct {
		ID         int64      `json:"id"`
		Project    string     `json:"project"`
		Container  string     `json:"container"`
		Kind       string     `json:"kind"`
		State      string     `json:"state"`
		Summary    string     `json:"summary"`
		Version    int        `json:"version"`
		ResolvedAt *time.Time `json:"resolved_at"`
	}
	list := func(query string) []alert {
		t.Helper()
		rec := do(t, h, "GET", "/api/v1/alerts"+query, readToken, "")
		if rec.Code != 200 {
			t.Fatalf("GET /alerts%s: %d %s", query, rec.Code, rec.Body)
		}
		var body struct {
			Alerts []alert `json:"alerts"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return body.Alerts
	}
	names := func(as []alert) string {
		var out []string
		for _, a := range as {
			out = append(out, a.Project+"/"+a.Container+":"+a.State)
		}
		return strings.Join(out, " ")
	}

	if got := names(list("")); got != "other/db:open demo/worker:open demo/web:resolved" {
		t.Errorf("every incident: %s; want the open ones first, newest first", got)
	}
	demo := list("?project=demo")
	if got := names(demo); got != "demo/worker:open demo/web:resolved" {
		t.Errorf("?project=demo: %s", got)
	}
	if web := demo[1]; web.Kind != store.KindDied || web.Summary != "died of web" || web.Version != 2 || web.ResolvedAt == nil {
		t.Errorf("the resolved incident reads %+v", web)
	}
	if demo[0].ResolvedAt != nil {
		t.Errorf("an open incident has resolved_at %v", demo[0].ResolvedAt)
	}
	if got := names(list("?since=1h")); got != "other/db:open demo/worker:open" {
		t.Errorf("?since=1h: %s; want the ones changed in the last hour", got)
	}
	if got := names(list("?since=" + now.Add(-15*time.Minute).UTC().Format(time.RFC3339))); got != "other/db:open" {
		t.Errorf("?since=<RFC 3339>: %s", got)
	}

	for _, tc := range []struct{ query, status, code string }{
		{"?since=yesterday", "400", "bad_input"},
		{"?since=-1h", "400", "bad_input"},
		{"?project=nope", "404", "unknown_project"},
	} {
		rec := do(t, h, "GET", "/api/v1/alerts"+tc.query, readToken, "")
		if got := rec.Result().Status[:3]; got != tc.status || errorCode(t, rec) != tc.code {
			t.Errorf("GET /alerts%s: %d %s; want %s %s", tc.query, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
	if rec := do(t, h, "GET", "/api/v1/alerts", "", ""); rec.Code != 401 {
		t.Errorf("without a token: %d", rec.Code)
	}
	entries, err := db.Audit(ctx, "", time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var audited, refused int
	for _, e := range entries {
		if e.Action == "alerts" && e.Outcome == "ok" {
			audited++
		}
		if e.Action == "alerts" && e.Outcome != "ok" {
			refused++
		}
	}
	if audited != 4 || refused != 3 {
		t.Errorf("audit has %d reads and %d refusals of alerts, want 4 and 3", audited, refused)
	}
}

func TestRESTAlertsAndEventsWithoutAWatcher(t *testing.T) {
	h := NewServer(testDeps(t, nil))
	for _, path := range []string{"/api/v1/alerts", "/api/v1/events"} {
		rec := do(t, h, "GET", path, readToken, "")
		if rec.Code != 503 || errorCode(t, rec) != "not_watching" {
			t.Errorf("GET %s without a watcher: %d %s; want 503 not_watching", path, rec.Code, rec.Body)
		}
	}
	// An unknown project is that, watcher or not.
	rec := do(t, h, "GET", "/api/v1/events?project=nope", readToken, "")
	if rec.Code != 404 || errorCode(t, rec) != "unknown_project" {
		t.Errorf("GET /events?project=nope: %d %s", rec.Code, rec.Body)
	}
}
