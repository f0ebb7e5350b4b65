package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

func TestStatusLooksLikeTheSeed(t *testing.T) {
	h := newHarness(t)
	h.send(admin.ID, admin, "/docker_status")
	got := rendered(t, h.waitSent(admin.ID, "Production Status"))
	for _, want := range []string{
		"📊 Project-Orchestrator - Production Status\n\nbackend (primary)\n✅ Status: Running\n💚 Health: Healthy\n⏱️ Uptime: 2h 15m\n🔌 Ports: 8001→8000/tcp\n🏷️ Image: po-backend:latest",
		"po-redis-1\n✅ Status: Running\n⚪ Health: no health check\n⏱️ Uptime: 42s",
		"💡 Production: /home/samuel/po\n📁 Workspace: /workspace/project-orchestrator",
		"👉 Next: /docker_logs",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks\n%s\n--- got:\n%s", want, got)
		}
	}
}

func TestStatusMarksTroubleAndPendingChanges(t *testing.T) {
	h := newHarness(t)
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		st := seedStatus(project)
		st.PendingChanges = true
		st.Containers[0].Health = dockerops.HealthUnhealthy
		st.Containers[1] = dockerops.ContainerStatus{Name: "po-postgres-1", State: "exited", ExitCode: 137, Health: dockerops.HealthNone}
		st.Containers[2] = dockerops.ContainerStatus{Name: "po-redis-1", State: dockerops.StateNotFound, Health: dockerops.HealthNone}
		return st, nil
	}
	h.send(admin.ID, admin, "/docker_status")
	got := rendered(t, h.waitSent(admin.ID, "Production Status"))
	for _, want := range []string{
		"💔 Health: Unhealthy",
		"❌ Status: Exited (exit code 137)",
		"po-redis-1\n❓ Status: Not found",
		"📝 The workspace has changes not deployed yet.",
		"⚠️ 3 of 3 containers need attention: backend, po-postgres-1, po-redis-1",
		"👉 Next: /docker_logs · /docker_restart",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q\n--- got:\n%s", want, got)
		}
	}
}

func TestEveryCommandAndArgumentForm(t *testing.T) {
	type seen struct {
		op      string
		project string
		lines   int
	}
	tests := []struct {
		text string
		want *seen // the operation the command must call; nil for none
		// reply must contain this.
		reply string
	}{
		{"/docker_status", &seen{"status", "project-orchestrator", 0}, "Production Status"},
		{"/docker_status project-orchestrator", &seen{"status", "project-orchestrator", 0}, "Production Status"},
		{"/docker_status@scar_test_bot secret-app", &seen{"status", "secret-app", 0}, "Secret-App - Production Status"},
		{"/DOCKER_STATUS", &seen{"status", "project-orchestrator", 0}, "Production Status"},
		{"/docker_status a b", nil, "usage: /docker_status [project]"},
		{"/docker_logs", &seen{"logs", "project-orchestrator", 50}, "Last 50 lines"},
		{"/docker_logs 20", &seen{"logs", "project-orchestrator", 20}, "Last 20 lines"},
		{"/docker_logs secret-app", &seen{"logs", "secret-app", 50}, "Last 50 lines"},
		{"/docker_logs secret-app 7", &seen{"logs", "secret-app", 7}, "Last 7 lines"},
		{"/docker_logs@scar_test_bot 5", &seen{"logs", "project-orchestrator", 5}, "Last 5 lines"},
		{"/docker_logs 0", nil, "lines must be a number from 1 to 5000"},
		{"/docker_logs 9000", nil, "lines must be a number from 1 to 5000"},
		{"/docker_logs po lots", nil, "usage: /docker_logs [project] [lines]"},
		{"/docker_restart", &seen{"status", "project-orchestrator", 0}, "Containers to restart:\n- backend\n- po-postgres-1\n- po-redis-1"},
		{"/docker_restart secret-app", &seen{"status", "secret-app", 0}, "Restart Production Containers — secret-app"},
		{"/docker_deploy", &seen{"plan", "project-orchestrator", 0}, "Deploy Workspace → Production — project-orchestrator"},
		{"/docker_rollback", &seen{"planrollback", "project-orchestrator", 0}, "Nothing to roll back"},
		{"/docker_history", &seen{"history", "project-orchestrator", 0}, "Deploy history — project-orchestrator"},
		{"/docker_history secret-app", &seen{"history", "secret-app", 0}, "Deploy history — secret-app"},
		{"/docker_audit", nil, "Audit — all projects"},
		{"/docker_audit project-orchestrator", nil, "Audit — project-orchestrator"},
		{"/docker_projects", nil, "Projects\n• project-orchestrator (default)"},
		{"/help", nil, "/docker_logs [project] [lines] — last lines"},
		{"/start", nil, "Hello!"},
		{"/frobnicate", nil, "I don't know /frobnicate"},
		{"hello there", nil, "I understand commands only"},
		{"yes", nil, "Nothing is waiting for a confirmation"},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			h := newHarness(t)
			var mu sync.Mutex
			var calls []seen
			note := func(s seen) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, s)
			}
			status, logs := h.ops.StatusFn, h.ops.LogsFn
			h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
				note(seen{"status", project, 0})
				return status(ctx, project)
			}
			h.ops.LogsFn = func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
				note(seen{"logs", project, req.Lines})
				return logs(ctx, project, req)
			}
			plan, planRollback, history := h.deploys.PlanDeployFn, h.deploys.PlanRollbackFn, h.deploys.HistoryFn
			h.deploys.PlanDeployFn = func(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
				note(seen{"plan", project, 0})
				return plan(ctx, project)
			}
			h.deploys.PlanRollbackFn = func(ctx context.Context, project string) (*dockerops.Deployment, error) {
				note(seen{"planrollback", project, 0})
				return planRollback(ctx, project)
			}
			h.deploys.HistoryFn = func(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error) {
				note(seen{"history", project, 0})
				return history(ctx, project, limit)
			}

			h.send(admin.ID, admin, tc.text)
			h.waitSent(admin.ID, tc.reply)
			h.marker(admin.ID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case tc.want == nil && len(calls) > 0:
				t.Errorf("operations called: %v, want none", calls)
			case tc.want != nil && (len(calls) != 1 || calls[0] != *tc.want):
				t.Errorf("operations called: %v, want [%v]", calls, *tc.want)
			}
		})
	}
}

func TestUnknownProjectGetsTheList(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{"/docker_status nope", "/docker_logs nope 10", "/docker_restart nope", "/docker_deploy nope", "/docker_history nope"} {
		h.send(admin.ID, admin, cmd)
	}
	h.marker(admin.ID)
	got := h.sentTo(admin.ID)
	if len(got) != 6 {
		t.Fatalf("%d answers, want 6: %q", len(got), got)
	}
	for _, text := range got[:5] {
		if !strings.Contains(text, "Unknown project nope.\nProjects: project-orchestrator, secret-app\n👉 Next: /docker_") {
			t.Errorf("answer %q, want the projects list", text)
		}
	}
}

func TestNoDefaultProjectAsksWhich(t *testing.T) {
	h := newHarness(t, func(_ *Config, d *Deps) {
		d.Projects = writeProjects(t, strings.Replace(seedProjects, `"default": true`, `"default": false`, 1))
	})
	h.send(admin.ID, admin, "/docker_status")
	h.waitSent(admin.ID, "Which project? There is no default project.\nProjects: project-orchestrator, secret-app")
}

func TestHostileTextIsEscaped(t *testing.T) {
	const evil = `<b>x</b> & <a href="javascript:alert(1)">y</a> </pre> &amp;`
	h := newHarness(t)
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		st := seedStatus(project)
		st.Containers[0].Name = evil
		st.Containers[0].Ports = []string{evil}
		st.Containers[0].Image = evil
		st.Production = evil
		return st, nil
	}
	h.ops.LogsFn = func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
		return &dockerops.LogsResult{Project: project, Container: evil, Lines: []dockerops.LogLine{{Text: evil}, {Text: "ok"}}}, nil
	}
	h.send(admin.ID, admin, "/docker_status")
	st := rendered(t, h.waitSent(admin.ID, "Production Status"))
	if strings.Count(st, evil) != 4 {
		t.Errorf("status shows the hostile name %d times, want 4 (name, ports, image, path):\n%s", strings.Count(st, evil), st)
	}
	h.send(admin.ID, admin, "/docker_logs")
	logs := rendered(t, h.waitSent(admin.ID, "Last 2 lines"))
	if !strings.Contains(logs, evil+"\nok") || !strings.HasPrefix(logs, "📜 "+evil) {
		t.Errorf("logs:\n%s", logs)
	}
	h.send(admin.ID, admin, "/docker_status "+`<i>&`)
	h.waitSent(admin.ID, "Unknown project <i>&.")
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		return nil, errors.New(evil)
	}
	h.send(admin.ID, admin, "/docker_status")
	h.waitSent(admin.ID, "Could not read the status: "+evil)
	// Every message went through: the fake refuses HTML Telegram would refuse.
	for _, c := range h.api.Calls("sendMessage") {
		if !c.OK() {
			t.Errorf("a message was refused: %s", telegramfake.Describe([]telegramfake.Call{c}))
		}
	}
}

func TestLongLogsAreSplitThenSentAsDocument(t *testing.T) {
	tests := []struct {
		name         string
		lines        int
		wantMessages int
		wantDocument bool
	}{
		{"one message", 50, 1, false},
		{"split in two", 120, 2, false}, // 45 characters a line, about 90 lines a message
		{"split in three", 250, 3, false},
		{"document", 2000, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.ops.LogsFn = func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
				lines := make([]dockerops.LogLine, req.Lines)
				for i := range lines {
					lines[i] = dockerops.LogLine{Time: time.Date(2025, 12, 20, 15, 30, 11, 0, time.UTC), Text: fmt.Sprintf("INFO <req %04d> & done", i)}
				}
				return &dockerops.LogsResult{Project: project, Container: "backend", Lines: lines}, nil
			}
			h.send(admin.ID, admin, fmt.Sprintf("/docker_logs %d", tc.lines))
			h.marker(admin.ID)
			msgs := h.api.Calls("sendMessage")
			msgs = msgs[:len(msgs)-1] // the marker's
			docs := h.api.Calls("sendDocument")
			if tc.wantDocument {
				if len(docs) != 1 || len(msgs) != 0 {
					t.Fatalf("%d messages and %d documents, want one document", len(msgs), len(docs))
				}
				doc := docs[0].Files["document"]
				if !strings.HasSuffix(doc.Name, ".log") || !strings.HasPrefix(doc.Name, "backend-") {
					t.Errorf("document named %q", doc.Name)
				}
				lines := strings.Split(strings.TrimSuffix(string(doc.Data), "\n"), "\n")
				if len(lines) != tc.lines || lines[0] != "[2025-12-20 15:30:11] INFO <req 0000> & done" {
					t.Errorf("document has %d lines starting %q", len(lines), lines[0])
				}
				if caption := rendered(t, docs[0]); !strings.Contains(caption, "Last 2000 lines") || !strings.Contains(caption, "/docker_status") {
					t.Errorf("caption %q", caption)
				}
				return
			}
			if len(msgs) != tc.wantMessages || len(docs) != 0 {
				t.Fatalf("%d messages and %d documents, want %d messages", len(msgs), len(docs), tc.wantMessages)
			}
			var all []string
			for _, m := range msgs {
				text := rendered(t, m)
				if telegramfake.Length(text) > telegramfake.MaxMessageLength {
					t.Errorf("message of %d characters", telegramfake.Length(text))
				}
				if !strings.Contains(m.String("text"), "<pre>") {
					t.Errorf("a part of the logs is not in <pre>")
				}
				all = append(all, text)
			}
			joined := strings.Join(all, "\n")
			for i := range tc.lines {
				if !strings.Contains(joined, fmt.Sprintf("[2025-12-20 15:30:11] INFO <req %04d> & done\n", i)) {
					t.Fatalf("line %d missing or cut", i)
				}
			}
		})
	}
}

func TestReadOnlyUsers(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{"/docker_status", "/docker_logs 5", "/docker_history", "/docker_projects", "/help"} {
		h.send(reader.ID, reader, cmd)
	}
	h.waitSent(reader.ID, "Production Status")
	h.waitSent(reader.ID, "Last 5 lines")
	h.waitSent(reader.ID, "Deploy history")
	h.waitSent(reader.ID, "Projects\n• project-orchestrator (default)")
	h.waitSent(reader.ID, "Your access is read-only: restart, stop, start, deploy, promote, rollback, audit, mute and unmute need full access.")
	for _, cmd := range []string{"/docker_restart", "/docker_rollback", "/docker_audit"} {
		h.send(reader.ID, reader, cmd)
		h.waitSent(reader.ID, "Your access is read-only: "+cmd+" needs full access.")
	}
	// A deploy's plan changes nothing: see TestReadOnlyUserSeesTheDeployPlan.
	h.send(reader.ID, reader, "/docker_deploy")
	h.waitSent(reader.ID, "this is the plan only, you may not deploy")
	if n := len(h.api.Calls("sendMessage")); n != 9 {
		t.Errorf("%d messages, want 9", n)
	}
	for _, c := range h.api.Sent() {
		if len(buttons(t, c)) > 0 {
			t.Errorf("a read-only user got buttons: %q", rendered(t, c))
		}
	}
	if n := len(h.api.Calls("sendMessage")); n != 9 {
		t.Errorf("%d messages, want 9", n)
	}
	// The reader cannot see a project narrowed to admin.
	h.send(reader.ID, reader, "/docker_status secret-app")
	h.waitSent(reader.ID, "You are not allowed to act on secret-app.")
	if strings.Contains(strings.Join(h.sentTo(reader.ID), "\n"), "secret-app\n") {
		t.Error("the projects list showed secret-app to a user outside its allowed_users")
	}
}

func TestProjectAllowedUsersNarrowFullAccess(t *testing.T) {
	h := newHarness(t)
	h.send(admin2.ID, admin2, "/docker_restart secret-app")
	h.waitSent(admin2.ID, "You are not allowed to act on secret-app.")
	entries, err := h.db.Audit(context.Background(), "secret-app", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Outcome != "refused" || !strings.Contains(entries[0].Who, "telegram:43") {
		t.Errorf("audit = %+v, want one refused entry for user 43", entries)
	}
}

func TestStrangerIsToldOnceThenIgnored(t *testing.T) {
	h := newHarness(t)
	h.send(stranger.ID, stranger, "/docker_status")
	got := rendered(t, h.waitSent(stranger.ID, "You are not allowed"))
	for _, want := range []string{"Your Telegram user id is 666", "SCAR_TELEGRAM_ALLOWED_USERS"} {
		if !strings.Contains(got, want) {
			t.Errorf("notice %q lacks %q", got, want)
		}
	}
	// More from the same stranger, in private and in a group, then the marker in the
	// group: nothing but the first notice and the marker's answer.
	h.send(stranger.ID, stranger, "/docker_restart")
	h.send(stranger.ID, stranger, "please")
	h.send(groupChat, stranger, "/docker_status")
	h.send(groupChat, stranger, "chatting in the group")
	h.marker(stranger.ID)
	h.marker(groupChat)
	if n := len(h.sentTo(stranger.ID)); n != 2 {
		t.Errorf("%d messages to the stranger, want 2 (notice, marker): %q", n, h.sentTo(stranger.ID))
	}
	if n := len(h.sentTo(groupChat)); n != 1 {
		t.Errorf("%d messages in the group, want only the marker's: %q", n, h.sentTo(groupChat))
	}
	if n := h.updates("message", updateUnauthorized); n != 5 {
		t.Errorf("unauthorized count %v, want 5", n)
	}
	// After the quiet period, one more notice.
	h.clock.Advance(strangerNoticeEvery)
	h.send(stranger.ID, stranger, "/docker_status")
	h.api.WaitFor(t, 5*time.Second, "a second notice", func([]telegramfake.Call) bool {
		return len(h.sentTo(stranger.ID)) == 3
	})
	// The stranger's button presses are answered and do nothing.
	h.press(stranger.ID, stranger, 1, "c:whatever")
	h.api.WaitFor(t, 5*time.Second, "the press's answer", func(calls []telegramfake.Call) bool {
		for _, c := range calls {
			if c.Method == "answerCallbackQuery" && strings.Contains(c.String("text"), "666") {
				return true
			}
		}
		return false
	})
}

func TestCommandsAreRateLimitedPerUser(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	runs := 0
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		mu.Lock()
		runs++
		mu.Unlock()
		return seedStatus(project), nil
	}
	// Hold the clock so that no token comes back during the burst.
	frozen := h.clock.Now()
	h.bot.access.now = func() time.Time { return frozen }
	for range commandBurst + 5 {
		h.send(admin.ID, admin, "/docker_status")
	}
	h.send(admin2.ID, admin2, "/docker_status")
	h.waitSent(admin2.ID, "Production Status")
	h.api.WaitFor(t, 10*time.Second, "the burst's answers", func([]telegramfake.Call) bool {
		return len(h.sentTo(admin.ID)) == commandBurst+1
	})
	notices := 0
	for _, text := range h.sentTo(admin.ID) {
		if strings.Contains(text, "Too many commands") {
			notices++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != commandBurst+1 || notices != 1 {
		t.Errorf("%d status runs and %d notices, want %d runs (burst and the other user) and 1 notice", runs, notices, commandBurst+1)
	}
	// The silent refusals after the notice send nothing to wait for.
	h.api.WaitFor(t, 5*time.Second, "5 rate-limited updates counted", func([]telegramfake.Call) bool {
		return h.updates("message", updateRateLimited) == 5
	})
}

func TestCommandsInGroups(t *testing.T) {
	h := newHarness(t)
	h.send(groupChat, admin, "/docker_status@scar_test_bot")
	h.waitSent(groupChat, "Production Status")
	// Chatter and unknown commands without the bot's name are not answered in groups.
	h.send(groupChat, admin, "hello all")
	h.send(groupChat, admin, "/frobnicate")
	h.send(groupChat, admin, "/docker_status@another_bot")
	h.send(groupChat, admin, "/frobnicate@scar_test_bot")
	h.waitSent(groupChat, "I don't know /frobnicate")
	h.marker(groupChat)
	if n := len(h.sentTo(groupChat)); n != 3 {
		t.Errorf("%d messages in the group, want 3: %q", n, h.sentTo(groupChat))
	}
}

func TestReadsAndChangesAreAudited(t *testing.T) {
	h := newHarness(t)
	h.send(admin.ID, admin, "/docker_status")
	h.send(admin.ID, admin, "/docker_logs 5")
	h.send(admin.ID, admin, "/docker_restart")
	h.send(admin.ID, admin, "no")
	h.marker(admin.ID)
	entries, err := h.db.Audit(context.Background(), "", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		got = append(got, e.Action+":"+e.Outcome)
		if e.Who != "telegram:42 (@sam)" || e.Source != "chat:42" || e.Project != "project-orchestrator" {
			t.Errorf("entry %+v: want who telegram:42 (@sam), source chat:42, the default project", e)
		}
	}
	if want := "status:ok logs:ok restart:asked restart:cancelled"; strings.Join(got, " ") != want {
		t.Errorf("audit %q, want %q", strings.Join(got, " "), want)
	}

	h.send(admin.ID, admin, "/docker_audit")
	text := rendered(t, h.waitSent(admin.ID, "Audit — all projects"))
	if !strings.Contains(text, "telegram:42 (@sam) restart project-orchestrator — cancelled") {
		t.Errorf("audit reply:\n%s", text)
	}
}

func TestAuditHidesProjectsTheUserMayNotSee(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.AllowedUsers = append(c.AllowedUsers, 44) })
	ctx := context.Background()
	for _, p := range []string{"secret-app", "project-orchestrator"} {
		if err := h.db.RecordAudit(ctx, store.AuditEntry{Who: "api:ci", Action: "deploy", Project: p, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	other := telegramfake.User{ID: 44, Username: "pat"}
	h.send(other.ID, other, "/docker_audit")
	text := rendered(t, h.waitSent(other.ID, "Audit — all projects"))
	if strings.Contains(text, "secret-app") || !strings.Contains(text, "api:ci deploy project-orchestrator — ok") {
		t.Errorf("audit for a user outside secret-app's allowed_users:\n%s", text)
	}
}
