package handlers

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
)

// restartCounter counts restarts run by the harness's fake.
func restartCounter(h *harness) *atomic.Int32 {
	var n atomic.Int32
	h.ops.RestartFn = func(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error) {
		n.Add(1)
		return restartAll(project, progress), nil
	}
	return &n
}

// ask sends /docker_restart from user in chat and returns the confirmation message.
func (h *harness) askRestart(chat int64, user telegramfake.User) telegramfake.Call {
	h.t.Helper()
	h.send(chat, user, "/docker_restart")
	c := h.waitSent(chat, "Restart Production Containers")
	if b := buttons(h.t, c); len(b) != 2 || !strings.HasPrefix(b[0], "c:") || !strings.HasPrefix(b[1], "x:") {
		h.t.Fatalf("confirmation buttons %q, want confirm and cancel", b)
	}
	return c
}

// callbackAnswer waits for the answerCallbackQuery of the n-th press (1-based, in
// the order the harness sent them) and returns its text.
func (h *harness) callbackAnswers(n int) []string {
	h.t.Helper()
	calls := h.api.WaitCalls(h.t, "answerCallbackQuery", n)
	var out []string
	for _, c := range calls {
		out = append(out, c.String("text"))
	}
	return out
}

// wantRestartComplete waits for the confirmation message to be edited into the
// restart's final report.
func (h *harness) wantRestartComplete(chat int64, confirmation telegramfake.Call) {
	h.t.Helper()
	final := h.waitSent(chat, "Restart complete")
	if final.Method != "editMessageText" || int(final.Int64("message_id")) != confirmation.MessageID {
		h.t.Errorf("the report is a %s of message %d, want an edit of the confirmation %d", final.Method, final.Int64("message_id"), confirmation.MessageID)
	}
	text := rendered(h.t, final)
	for _, want := range []string{"✅ backend restarted (healthy, 2.1s)", "✅ po-postgres-1 restarted (healthy, 2.1s)", "✅ po-redis-1 restarted (2.1s)", "All 3 containers are back in 5.2s.", "👉 Next: /docker_status · /docker_logs"} {
		if !strings.Contains(text, want) {
			h.t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if final.Has("reply_markup") {
		h.t.Error("the report kept the buttons")
	}
}

func TestTypedYesConfirms(t *testing.T) {
	for _, answer := range []string{"yes", "y", "YES", " Yes "} {
		t.Run(answer, func(t *testing.T) {
			h := newHarness(t)
			runs := restartCounter(h)
			c := h.askRestart(admin.ID, admin)
			if text := rendered(t, c); !strings.Contains(text, "Type yes to confirm") || !strings.Contains(text, "Expires in 2m.") {
				t.Errorf("confirmation text:\n%s", text)
			}
			h.send(admin.ID, admin, answer)
			h.wantRestartComplete(admin.ID, c)
			h.marker(admin.ID)
			if runs.Load() != 1 {
				t.Errorf("%d restarts, want 1", runs.Load())
			}
		})
	}
}

func TestButtonConfirmsOnceAndAnswersEveryPress(t *testing.T) {
	h := newHarness(t)
	runs := restartCounter(h)
	c := h.askRestart(admin.ID, admin)
	data := buttons(t, c)
	h.press(admin.ID, admin, c.MessageID, data[0])
	h.wantRestartComplete(admin.ID, c)
	h.press(admin.ID, admin, c.MessageID, data[0]) // double press
	h.press(admin.ID, admin, c.MessageID, data[1]) // cancel after it ran
	answers := h.callbackAnswers(3)
	if answers[0] != "Confirmed" || !strings.Contains(answers[1], "Already confirmed") || !strings.Contains(answers[2], "Already confirmed") {
		t.Errorf("answers %q", answers)
	}
	h.marker(admin.ID)
	if runs.Load() != 1 {
		t.Errorf("%d restarts, want 1", runs.Load())
	}
}

func TestOtherTextCancels(t *testing.T) {
	tests := []struct {
		name       string
		message    string
		wantAnswer string
	}{
		{"plain text", "hmm, wait", "Restart cancelled: nothing was done."},
		{"yes please", "yes please", "Restart cancelled: nothing was done."},
		{"another command", "/docker_logs 3", "Last 3 lines"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			runs := restartCounter(h)
			c := h.askRestart(admin.ID, admin)
			h.send(admin.ID, admin, tc.message)
			edit := h.waitSent(admin.ID, "Restart of project-orchestrator cancelled: nothing was done.")
			if edit.Method != "editMessageText" || int(edit.Int64("message_id")) != c.MessageID || edit.Has("reply_markup") {
				t.Errorf("cancel shown by %s of %d, want an edit of %d without buttons", edit.Method, edit.Int64("message_id"), c.MessageID)
			}
			h.waitSent(admin.ID, tc.wantAnswer)
			// A late yes finds nothing, and the button is spent.
			h.send(admin.ID, admin, "yes")
			h.waitSent(admin.ID, "Nothing is waiting for a confirmation")
			h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
			if a := h.callbackAnswers(1); a[0] != "This was cancelled." {
				t.Errorf("press after cancel answered %q", a[0])
			}
			if runs.Load() != 0 {
				t.Errorf("%d restarts after a cancel, want 0", runs.Load())
			}
		})
	}
}

func TestStickerCancels(t *testing.T) {
	h := newHarness(t)
	runs := restartCounter(h)
	h.askRestart(admin.ID, admin)
	h.post(telegramfake.Sticker(h.id(), admin.ID, admin))
	h.waitSent(admin.ID, "Restart cancelled")
	if runs.Load() != 0 {
		t.Errorf("%d restarts, want 0", runs.Load())
	}
}

func TestCancelButton(t *testing.T) {
	h := newHarness(t)
	runs := restartCounter(h)
	c := h.askRestart(admin.ID, admin)
	h.press(admin.ID, admin, c.MessageID, buttons(t, c)[1])
	h.waitSent(admin.ID, "Restart of project-orchestrator cancelled")
	if a := h.callbackAnswers(1); a[0] != "Cancelled" {
		t.Errorf("answer %q", a[0])
	}
	h.send(admin.ID, admin, "yes")
	h.waitSent(admin.ID, "Nothing is waiting")
	if runs.Load() != 0 {
		t.Errorf("%d restarts, want 0", runs.Load())
	}
}

func TestAnotherUserCannotConfirm(t *testing.T) {
	h := newHarness(t)
	runs := restartCounter(h)
	c := h.askRestart(groupChat, admin)
	// admin2 is allowed everything, but this confirmation is admin's.
	h.send(groupChat, admin2, "yes")
	h.waitSent(groupChat, "Nothing is waiting")
	h.press(groupChat, admin2, c.MessageID, buttons(t, c)[0])
	if a := h.callbackAnswers(1); a[0] != "Only the user who asked can answer this." {
		t.Errorf("other user's press answered %q", a[0])
	}
	if runs.Load() != 0 {
		t.Fatalf("another user's yes or press ran the restart")
	}
	// Still waiting for admin.
	h.send(groupChat, admin, "y")
	h.wantRestartComplete(groupChat, c)
}

func TestConfirmationExpires(t *testing.T) {
	t.Run("typed yes", func(t *testing.T) {
		h := newHarness(t)
		runs := restartCounter(h)
		c := h.askRestart(admin.ID, admin)
		h.clock.Advance(2 * time.Minute)
		h.send(admin.ID, admin, "yes")
		h.waitSent(admin.ID, "That confirmation expired. Send /docker_restart again.")
		edit := h.waitSent(admin.ID, "Restart of project-orchestrator expired: nothing was done.")
		if int(edit.Int64("message_id")) != c.MessageID {
			t.Errorf("expiry edited message %d, want %d", edit.Int64("message_id"), c.MessageID)
		}
		if runs.Load() != 0 {
			t.Errorf("%d restarts after expiry, want 0", runs.Load())
		}
	})
	t.Run("button", func(t *testing.T) {
		h := newHarness(t)
		runs := restartCounter(h)
		c := h.askRestart(admin.ID, admin)
		h.clock.Advance(2*time.Minute + time.Second)
		h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
		if a := h.callbackAnswers(1); a[0] != "This confirmation expired. Send the command again." {
			t.Errorf("answer %q", a[0])
		}
		h.waitSent(admin.ID, "expired: nothing was done")
		if runs.Load() != 0 {
			t.Errorf("%d restarts after expiry, want 0", runs.Load())
		}
	})
	t.Run("just in time", func(t *testing.T) {
		h := newHarness(t)
		restartCounter(h)
		c := h.askRestart(admin.ID, admin)
		h.clock.Advance(2*time.Minute - time.Second)
		h.send(admin.ID, admin, "yes")
		h.wantRestartComplete(admin.ID, c)
	})
}

func TestReplayedOrForgedButtonData(t *testing.T) {
	h := newHarness(t)
	runs := restartCounter(h)
	c := h.askRestart(admin.ID, admin)
	token := strings.TrimPrefix(buttons(t, c)[0], "c:")
	presses := []struct{ id, want string }{
		{h.press(groupChat, admin, c.MessageID, "c:"+token), "This button is no longer valid."},      // the same data in another chat
		{h.press(admin.ID, admin, c.MessageID, "c:restart"), "This button is no longer valid."},      // an action, not a token
		{h.press(admin.ID, admin, c.MessageID, "restart po now"), "This button is not one of mine."}, // not scar's format
	}
	for i, p := range presses {
		if got := h.answerTo(p.id); got != p.want {
			t.Errorf("press %d answered %q, want %q", i, got, p.want)
		}
	}
	if runs.Load() != 0 {
		t.Fatal("a replayed or forged press ran the restart")
	}
	h.send(admin.ID, admin, "yes")
	h.wantRestartComplete(admin.ID, c)
}

func TestRestartProgressIsEditedContainerByContainer(t *testing.T) {
	h := newHarness(t)
	step := make(chan struct{})
	h.ops.RestartFn = func(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error) {
		if who.Name != "telegram:42 (@sam)" || who.Source != "chat:42" {
			t.Errorf("restart by %+v", who)
		}
		res := &dockerops.RestartResult{Project: project, OK: false, DurationMS: 3000}
		for i, name := range []string{"backend", "po-redis-1"} {
			progress(dockerops.Event{Stage: "restart", Container: name, Message: "restarting"})
			<-step
			r := dockerops.ContainerResult{Name: name, OK: i == 0, State: "running", Health: dockerops.HealthHealthy, DurationMS: 1500}
			if i == 1 {
				r.State, r.Health, r.Error = "exited", dockerops.HealthNone, "exited with code 1 <oops>"
			}
			progress(dockerops.Event{Stage: "restart", Container: name, Result: &r})
			res.Containers = append(res.Containers, r)
		}
		return res, nil
	}
	c := h.askRestart(admin.ID, admin)
	h.send(admin.ID, admin, "yes")
	h.waitSent(admin.ID, "Restarting containers… — project-orchestrator\n⏳ backend restarting…")
	step <- struct{}{}
	h.waitSent(admin.ID, "✅ backend restarted (healthy, 1.5s)\n⏳ po-redis-1 restarting…")
	step <- struct{}{}
	final := rendered(t, h.waitSent(admin.ID, "Restart finished with problems"))
	for _, want := range []string{"❌ po-redis-1: exited with code 1 <oops>", "1 of 2 containers did not come back.", "👉 Next: /docker_logs · /docker_status"} {
		if !strings.Contains(final, want) {
			t.Errorf("final report lacks %q:\n%s", want, final)
		}
	}
	for _, e := range h.api.Calls("editMessageText") {
		if int(e.Int64("message_id")) != c.MessageID {
			t.Errorf("an edit of message %d, want only the confirmation %d", e.Int64("message_id"), c.MessageID)
		}
	}
	h.marker(admin.ID)
	entries, _ := h.db.Audit(context.Background(), "project-orchestrator", time.Time{}, 10)
	if len(entries) == 0 || entries[0].Action != "restart" || entries[0].Outcome != "restart_failed" {
		t.Errorf("last audit entry %+v, want restart restart_failed", entries)
	}
}

func TestBusyProjectIsReported(t *testing.T) {
	h := newHarness(t)
	h.ops.RestartFn = func(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error) {
		return nil, &dockerops.BusyError{Project: project, Operation: "deploy", Who: "api:ci", Since: time.Date(2025, 12, 20, 15, 30, 0, 0, time.UTC)}
	}
	h.askRestart(admin.ID, admin)
	h.send(admin.ID, admin, "yes")
	h.waitSent(admin.ID, "project-orchestrator is busy: deploy by api:ci since 15:30:00 UTC")
}

func TestDeployShowsPlanAndEditsStageByStage(t *testing.T) {
	h := newHarness(t)
	started := time.Date(2025, 12, 20, 15, 30, 0, 0, time.UTC)
	plan := dockerops.DeployPlan{Project: "project-orchestrator", Added: []string{"new.py"}, Changed: []string{"app.py", "<weird>&.py"}, Bytes: 3 << 10,
		Rebuild: true, RebuildReason: "requirements.txt changed", Services: []string{"backend"}}
	h.deploys.PlanDeployFn = func(ctx context.Context, project string) (*dockerops.DeployPlan, error) { return &plan, nil }
	var mu sync.Mutex
	final := &dockerops.Deployment{ID: "d-1", Project: "project-orchestrator", Kind: dockerops.KindDeploy, Status: dockerops.DeployRunning, StartedAt: started, Plan: plan}
	stage := make(chan dockerops.Event)
	h.deploys.DeployFn = func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
		go func() {
			for ev := range stage {
				if ev.Stage == stageDone {
					mu.Lock()
					final.Status, final.FinishedAt = dockerops.DeploySuccess, started.Add(42*time.Second)
					mu.Unlock()
				}
				progress(ev)
			}
		}()
		mu.Lock()
		defer mu.Unlock()
		d := *final
		return &d, nil
	}
	h.deploys.DeploymentFn = func(ctx context.Context, id string) (*dockerops.Deployment, error) {
		mu.Lock()
		defer mu.Unlock()
		d := *final
		return &d, nil
	}

	h.send(admin.ID, admin, "/docker_deploy")
	c := h.waitSent(admin.ID, "Deploy Workspace → Production")
	text := rendered(t, c)
	for _, want := range []string{
		"Source: /workspace/project-orchestrator\nTarget: /home/samuel/po",
		"📄 Files: 1 added, 2 changed, 0 deleted (3.0 KB)",
		"➕ new.py", "✏️ <weird>&.py",
		"🔨 Rebuild: yes — requirements.txt changed", "🔄 Services: backend",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
	h.waitSent(admin.ID, "Deploying… — project-orchestrator")
	stage <- dockerops.Event{Stage: "sync", Message: "3 files"}
	h.waitSent(admin.ID, "⏳ 📦 Copying files: 3 files")
	stage <- dockerops.Event{Stage: "build", Message: "scar-demo/web"}
	h.waitSent(admin.ID, "✅ 📦 Copying files: 3 files\n⏳ 🔨 Building new image: scar-demo/web")
	stage <- dockerops.Event{Stage: stageDone, Message: "deployed"}
	close(stage)
	done := rendered(t, h.waitSent(admin.ID, "Deployment complete!"))
	for _, want := range []string{"📄 3 files · 🔨 rebuilt · ⏱️ 42s · id d-1", "👉 Next: /docker_status · /docker_logs"} {
		if !strings.Contains(done, want) {
			t.Errorf("final lacks %q:\n%s", want, done)
		}
	}
}

func TestFailedDeployShowsLogTailAndRollback(t *testing.T) {
	h := newHarness(t)
	failed := &dockerops.Deployment{ID: "d-2", Project: "project-orchestrator", Kind: dockerops.KindDeploy, Status: dockerops.DeployFailedRolledBack,
		FailedStep: "health", Error: "backend unhealthy after 60s", LogTail: []string{"Traceback:", "  ValueError: <bad> & worse"}}
	h.deploys.DeployFn = func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
		progress(dockerops.Event{Stage: "health", Message: "waiting"})
		progress(dockerops.Event{Stage: "rollback", Message: "restoring"})
		progress(dockerops.Event{Stage: stageFailed, Message: "failed"})
		d := *failed
		d.Status = dockerops.DeployRunning
		return &d, nil
	}
	h.deploys.DeploymentFn = func(ctx context.Context, id string) (*dockerops.Deployment, error) { return failed, nil }
	h.send(admin.ID, admin, "/docker_deploy")
	h.waitSent(admin.ID, "Deploy Workspace")
	h.send(admin.ID, admin, "yes")
	c := h.waitSent(admin.ID, "Deploy failed at health")
	text := rendered(t, c)
	for _, want := range []string{"backend unhealthy after 60s", "↩️ Rolled back", "Traceback:\n  ValueError: <bad> & worse", "👉 Next: /docker_logs · /docker_rollback · /docker_status"} {
		if !strings.Contains(text, want) {
			t.Errorf("failure report lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(c.String("text"), "<pre>Traceback:") {
		t.Error("the log tail is not in <pre>")
	}
}

func TestRollbackConfirmsTheDeployItUndoes(t *testing.T) {
	h := newHarness(t)
	last := &dockerops.Deployment{ID: "d-7", Project: "project-orchestrator", Kind: dockerops.KindDeploy, Who: "telegram:42 (@sam)",
		Status: dockerops.DeploySuccess, StartedAt: time.Date(2025, 12, 20, 15, 30, 0, 0, time.UTC), Plan: dockerops.DeployPlan{Changed: []string{"app.py"}}}
	h.deploys.PlanRollbackFn = func(ctx context.Context, project string) (*dockerops.Deployment, error) { return last, nil }
	var ran atomic.Int32
	h.deploys.RollbackFn = func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
		ran.Add(1)
		return &dockerops.Deployment{ID: "r-1", Kind: dockerops.KindRollback, Status: dockerops.DeploySuccess, Undoes: "d-7"}, nil
	}
	h.send(admin.ID, admin, "/docker_rollback")
	c := h.waitSent(admin.ID, "Roll Back Production — project-orchestrator")
	if text := rendered(t, c); !strings.Contains(text, "Undo deploy d-7 by telegram:42 (@sam), 2025-12-20 15:30 UTC") {
		t.Errorf("rollback confirmation:\n%s", text)
	}
	h.send(admin.ID, admin, "y")
	h.waitSent(admin.ID, "Rollback complete! — project-orchestrator\nDeploy d-7 undone.")
	if ran.Load() != 1 {
		t.Errorf("%d rollbacks, want 1", ran.Load())
	}
}

func TestDeployWithoutDeployer(t *testing.T) {
	h := newHarness(t, func(_ *Config, d *Deps) { d.Deploys = nil })
	for _, cmd := range []string{"/docker_deploy", "/docker_rollback", "/docker_history"} {
		h.send(admin.ID, admin, cmd)
	}
	h.marker(admin.ID)
	got := h.sentTo(admin.ID)
	for _, text := range got[:3] {
		if !strings.Contains(text, "Deploys are not available") {
			t.Errorf("answer %q", text)
		}
	}
}
