package handlers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
)

// TestStopAndStartFromTelegramOnTheRealEngine: /docker_stop of one container asks
// first and stops only it once confirmed, reporting the step back; /docker_start
// starts it without asking and reports it healthy; a read-only user and an unknown
// container are refused with nothing stopped; each step is audited.
func TestStopAndStartFromTelegramOnTheRealEngine(t *testing.T) {
	cp, real := dockerProject(t)
	h := newHarness(t, real)
	cli := dockertest.Client(t)
	web, cache := dockertest.V2Name(cp, "web", 1), dockertest.V2Name(cp, "cache", 1)
	running := func(name string) bool { return dockertest.Inspect(t, cli, name).State.Running }

	h.send(reader.ID, reader, "/docker_stop "+cp+" cache")
	h.waitSent(reader.ID, "Your access is read-only: /docker_stop needs full access.")

	h.send(admin.ID, admin, "/docker_stop "+cp+" nosuch")
	h.waitSent(admin.ID, "has no container nosuch: nothing was stopped.")

	h.send(admin.ID, admin, "/docker_stop "+cp+" cache")
	c := h.waitSentWithin(admin.ID, "Containers to stop", time.Minute)
	if text := rendered(t, c); !strings.Contains(text, "- "+cache+" (running, healthy)") || strings.Contains(text, web) {
		t.Errorf("confirmation names the wrong containers:\n%s", text)
	}
	if !running(cache) {
		t.Fatal("cache stopped before the confirmation")
	}
	h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
	final := h.waitSentWithin(admin.ID, "Stop complete", time.Minute)
	text := rendered(t, final)
	t.Logf("stop report:\n%s", text)
	for _, want := range []string{"⏹ " + cache + " stopped: ", "👉 Next: /docker_start " + cp + " cache"} {
		if !strings.Contains(text, want) {
			t.Errorf("stop report lacks %q:\n%s", want, text)
		}
	}
	if int(final.Int64("message_id")) != c.MessageID {
		t.Errorf("the report is not an edit of the confirmation")
	}
	if running(cache) || !running(web) {
		t.Errorf("after the stop: cache running %v, web running %v; want only cache stopped", running(cache), running(web))
	}
	if answer := h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0]); !strings.Contains(h.answerTo(answer), "it ran once") {
		t.Errorf("a second press answered %q", h.answerTo(answer))
	}

	h.send(admin.ID, admin, "/docker_start "+cp+" cache")
	started := rendered(t, h.waitSentWithin(admin.ID, "Start complete", time.Minute))
	t.Logf("start report:\n%s", started)
	for _, want := range []string{"✅ " + cache + " started: running, healthy", "👉 Next: /docker_status"} {
		if !strings.Contains(started, want) {
			t.Errorf("start report lacks %q:\n%s", want, started)
		}
	}
	if st := dockertest.Inspect(t, cli, cache).State; !st.Running || st.Health.Status != dockerops.HealthHealthy {
		t.Errorf("after the start cache is %s, %s; want running and healthy", st.Status, st.Health.Status)
	}

	entries, err := h.db.Audit(context.Background(), "", time.Time{}, 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Action == dockerops.OpStop || e.Action == dockerops.OpStart {
			got = append(got, e.Action+":"+e.Outcome)
		}
	}
	slices.Reverse(got) // newest first
	want := []string{"stop:refused", "stop:refused", "stop:asked", "stop:confirmed", "stop:ok", "start:ok"}
	if !slices.Equal(got, want) {
		t.Errorf("audited %v, want %v", got, want)
	}
}

func TestStopStartArgs(t *testing.T) {
	tests := []struct {
		args       string
		project    string
		containers []string
		usage      bool
	}{
		{"", "", nil, false},
		{"po", "po", nil, false},
		{"po web worker web", "po", []string{"web", "worker"}, false},
		{"po po_web_1 po-web-1", "po", []string{"po_web_1", "po-web-1"}, false},
		{"po web;rm", "", nil, true},
		{"po -web", "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			cmd, _ := ParseCommand(strings.TrimSpace("/docker_stop " + tc.args))
			project, containers, err := stopStartArgs(cmd)
			var usage *usageError
			if errors.As(err, &usage) != tc.usage || project != tc.project || !slices.Equal(containers, tc.containers) {
				t.Errorf("stopStartArgs(%q) = %q %q %v", tc.args, project, containers, err)
			}
		})
	}
}
