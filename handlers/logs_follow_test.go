package handlers

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/telegramfake"
)

// fakeFollower is Follower made of a function.
type fakeFollower struct {
	FollowLogsFn func(ctx context.Context, project string, req dockerops.FollowRequest) (*dockerops.Follow, error)
}

var _ Follower = (*fakeFollower)(nil)

func (f *fakeFollower) FollowLogs(ctx context.Context, project string, req dockerops.FollowRequest) (*dockerops.Follow, error) {
	return f.FollowLogsFn(ctx, project, req)
}

// feed is a follow the test drives: it writes lines, ends it as the engine would,
// and sees the bot stop it.
type feed struct {
	project string
	req     dockerops.FollowRequest
	in      chan dockerops.FollowLine
	lines   chan dockerops.FollowLine

	once    sync.Once
	stopped chan struct{} // closed by the bot's Stop
	ended   chan string   // the test's end, with its reason
	closed  chan struct{} // closed once lines is

	mu     sync.Mutex
	reason string
}

// newFeed makes a feed whose lines end when the bot stops it, ctx ends or the test
// ends it, as dockerops' follows do.
func newFeed(ctx context.Context, project string, req dockerops.FollowRequest) *feed {
	f := &feed{project: project, req: req, in: make(chan dockerops.FollowLine), lines: make(chan dockerops.FollowLine),
		stopped: make(chan struct{}), ended: make(chan string, 1), closed: make(chan struct{})}
	go func() {
		defer close(f.closed)
		defer close(f.lines)
		for {
			var l dockerops.FollowLine
			select {
			case l = <-f.in:
			case <-f.stopped:
				f.setReason("stopped")
				return
			case <-ctx.Done():
				f.setReason("stopped")
				return
			case why := <-f.ended:
				f.setReason(why)
				return
			}
			select {
			case f.lines <- l:
			case <-f.stopped:
				f.setReason("stopped")
				return
			}
		}
	}()
	return f
}

func (f *feed) setReason(why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reason = why
}

func (f *feed) follow() *dockerops.Follow {
	return dockerops.NewFollow(f.project, []string{"backend"}, f.lines,
		func() { f.once.Do(func() { close(f.stopped) }) },
		func() string { f.mu.Lock(); defer f.mu.Unlock(); return f.reason })
}

// write gives the bot a line, failing the test when the follow no longer reads.
func (f *feed) write(t testing.TB, l dockerops.FollowLine) {
	t.Helper()
	select {
	case f.in <- l:
	case <-f.closed:
		t.Fatalf("the follow ended before %q was written", l.Text)
	case <-time.After(10 * time.Second):
		t.Fatalf("the follow did not read %q", l.Text)
	}
}

// waitStopped waits until the bot stopped the feed.
func (f *feed) waitStopped(t testing.TB) {
	t.Helper()
	select {
	case <-f.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not stop the follow")
	}
}

// followHarness is a harness whose follows are feeds; follows receives each one.
func followHarness(t *testing.T, tweak ...func(*Config, *Deps)) (*harness, chan *feed) {
	t.Helper()
	feeds := make(chan *feed, 8)
	follower := &fakeFollower{FollowLogsFn: func(ctx context.Context, project string, req dockerops.FollowRequest) (*dockerops.Follow, error) {
		f := newFeed(ctx, project, req)
		feeds <- f
		return f.follow(), nil
	}}
	all := append([]func(*Config, *Deps){func(cfg *Config, deps *Deps) {
		cfg.FollowInterval = 100 * time.Millisecond
		deps.Follower = follower
	}}, tweak...)
	return newHarness(t, all...), feeds
}

// startFollow sends command from user in chat and returns the follow's feed, its
// message id and its Stop button's data.
func startFollow(t *testing.T, h *harness, feeds chan *feed, chat int64, user telegramfake.User, command string) (*feed, int, string) {
	t.Helper()
	before := len(h.api.Calls("sendMessage"))
	h.send(chat, user, command)
	var f *feed
	select {
	case f = <-feeds:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s started no follow; calls:\n%s", command, telegramfake.Describe(h.api.Calls()))
	}
	var msg telegramfake.Call
	var stop string
	h.api.WaitFor(t, 10*time.Second, "the follow's message with a Stop button", func(calls []telegramfake.Call) bool {
		for _, c := range h.api.Calls("sendMessage")[before:] {
			for _, b := range buttons(t, c) {
				if c.OK() && c.Int64("chat_id") == chat && strings.HasPrefix(b, dataFollowStop+":") {
					msg, stop = c, b
					return true
				}
			}
		}
		return false
	})
	return f, msg.MessageID, stop
}

// calls returns the successful sends and edits of message id in chat, in order.
func messageCalls(h *harness, chat int64, id int) []telegramfake.Call {
	var out []telegramfake.Call
	for _, c := range h.api.Calls("sendMessage", "editMessageText") {
		if c.Int64("chat_id") != chat {
			continue
		}
		if (c.Method == "sendMessage" && c.MessageID == id) || (c.Method == "editMessageText" && int(c.Int64("message_id")) == id) {
			out = append(out, c)
		}
	}
	return out
}

// waitEdit waits for an edit of message id whose text contains want and returns it.
func waitEdit(t *testing.T, h *harness, chat int64, id int, want string) telegramfake.Call {
	t.Helper()
	var found telegramfake.Call
	h.api.WaitFor(t, 10*time.Second, fmt.Sprintf("an edit of message %d containing %q", id, want), func([]telegramfake.Call) bool {
		for _, c := range messageCalls(h, chat, id) {
			if c.OK() && c.Method == "editMessageText" && strings.Contains(rendered(t, c), want) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

func TestFollowArgs(t *testing.T) {
	for _, tc := range []struct {
		name               string
		args               []string
		follow             bool
		project, container string
		wantErr            string
	}{
		{"not a follow", []string{"po", "100"}, false, "", "", ""},
		{"default project", []string{"follow"}, true, "", "", ""},
		{"project", []string{"po", "follow"}, true, "po", "", ""},
		{"project and container", []string{"po", "web", "follow"}, true, "po", "web", ""},
		{"follow first, any case", []string{"FOLLOW", "po", "web"}, true, "po", "web", ""},
		{"follow between", []string{"po", "follow", "web"}, true, "po", "web", ""},
		{"a line count", []string{"po", "100", "follow"}, true, "", "", "leave out the line count"},
		{"a lone line count", []string{"50", "follow"}, true, "", "", "leave out the line count"},
		{"too many words", []string{"po", "web", "db", "follow"}, true, "", "", "usage: /docker_logs [project] [container] follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, follow := splitFollow(tc.args)
			if follow != tc.follow {
				t.Fatalf("follow = %v, want %v", follow, tc.follow)
			}
			if !follow {
				if !reflect.DeepEqual(rest, tc.args) {
					t.Errorf("rest = %q, want the arguments unchanged", rest)
				}
				return
			}
			project, container, err := followArgs(rest)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || project != tc.project || container != tc.container {
				t.Errorf("got %q, %q, %v; want %q, %q", project, container, err, tc.project, tc.container)
			}
		})
	}
}

// TestFollowEditsOneMessageAtTheInterval: a follow is one message, edited with the
// newest 30 lines, never sooner than the interval after its last send or edit, and
// only when its text changed.
func TestFollowEditsOneMessageAtTheInterval(t *testing.T) {
	const interval = 150 * time.Millisecond
	h, feeds := followHarness(t, func(cfg *Config, _ *Deps) { cfg.FollowInterval = interval })
	f, id, _ := startFollow(t, h, feeds, admin.ID, admin, "/docker_logs follow")
	if f.project != "project-orchestrator" || f.req.Container != "" || f.req.Lines != followLines {
		t.Errorf("follow of %q with %+v; want the default project, every container, the last %d lines", f.project, f.req.LogsRequest, followLines)
	}
	if f.req.MaxDuration < 10*time.Minute {
		t.Errorf("dockerops' bound %s is shorter than the bot's 10 minutes", f.req.MaxDuration)
	}

	// Lines come faster than the interval: the message keeps to it.
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	shown := func(n int) string {
		return at.Add(time.Duration(n)*time.Second).Format("15:04:05") + fmt.Sprintf(" line %d <b>", n)
	}
	n := 0
	for deadline := time.Now().Add(time.Minute); len(messageCalls(h, admin.ID, id)) < 6; {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines written in a minute made only %d sends and edits", n, len(messageCalls(h, admin.ID, id)))
		}
		n++
		f.write(t, dockerops.FollowLine{Time: at.Add(time.Duration(n) * time.Second), Container: "backend", Stream: "stdout", Text: fmt.Sprintf("line %d <b>", n)})
		time.Sleep(5 * time.Millisecond) // a container writing a line every 5 ms, not a wait
	}
	waitEdit(t, h, admin.ID, id, shown(n))

	calls := messageCalls(h, admin.ID, id)
	for i, c := range calls {
		if !c.OK() {
			t.Errorf("%s %d answered %d (an edit that changed nothing?)", c.Method, i, c.Status)
		}
		if i == 0 {
			continue
		}
		if gap := c.At.Sub(calls[i-1].At); gap < interval {
			t.Errorf("%s %d came %s after the one before; the interval is %s", c.Method, i, gap, interval)
		}
		if rendered(t, c) == rendered(t, calls[i-1]) {
			t.Errorf("%s %d repeats the text before it", c.Method, i)
		}
	}
	if others := len(h.api.Calls("sendMessage")); others != 1 {
		t.Errorf("%d messages sent; a follow is one message edited", others)
	}
	got := rendered(t, calls[len(calls)-1])
	if n > followLines && (strings.Contains(got, shown(n-followLines)+"\n") || !strings.Contains(got, shown(n-followLines+1)+"\n")) {
		t.Errorf("the message does not show the last %d lines of %d:\n%s", followLines, n, got)
	}
	if !strings.HasPrefix(got, "📜 backend · project-orchestrator\n") {
		t.Errorf("the message lacks its header:\n%s", got)
	}

	// Nothing new: no edit.
	settled := len(messageCalls(h, admin.ID, id))
	h.marker(admin.ID)
	time.Sleep(3 * interval) // a negative: no edit may come in three intervals
	if now := len(messageCalls(h, admin.ID, id)); now != settled {
		t.Errorf("%d edits without a new line", now-settled)
	}
}

// TestFollowStopButton: ⏹ Stop ends the follow; its message says so and loses the
// button. A read-only user may follow and stop: a follow is a read.
func TestFollowStopButton(t *testing.T) {
	h, feeds := followHarness(t)
	f, id, stop := startFollow(t, h, feeds, groupChat, reader, "/docker_logs project-orchestrator follow")
	f.write(t, dockerops.FollowLine{Container: "backend", Text: "hello"})
	waitEdit(t, h, groupChat, id, "hello")

	if got := h.answerTo(h.press(groupChat, reader, id, stop)); got != "Follow stopped." {
		t.Errorf("the press answered %q", got)
	}
	f.waitStopped(t)
	final := waitEdit(t, h, groupChat, id, "Follow stopped.")
	if b := buttons(t, final); len(b) != 0 {
		t.Errorf("the final edit keeps buttons %q", b)
	}
	if text := rendered(t, final); !strings.Contains(text, "hello") || !strings.Contains(text, "👉 Next: /docker_logs follow") {
		t.Errorf("the final edit lacks the last lines or the next step:\n%s", text)
	}
	if got := h.answerTo(h.press(groupChat, admin, id, stop)); got != "This follow has already ended." {
		t.Errorf("a press after the end answered %q", got)
	}
}

// TestFollowEndsAfterItsTime: the follow ends when the bot's clock says FollowMax
// (10 minutes by default) has passed, with the command that follows again.
func TestFollowEndsAfterItsTime(t *testing.T) {
	h, feeds := followHarness(t)
	f, id, _ := startFollow(t, h, feeds, admin.ID, admin, "/docker_logs project-orchestrator backend follow")
	if f.req.Container != "backend" {
		t.Errorf("followed container %q, want backend", f.req.Container)
	}
	h.clock.Advance(9*time.Minute + 50*time.Second)
	f.write(t, dockerops.FollowLine{Container: "backend", Text: "still here"})
	waitEdit(t, h, admin.ID, id, "still here")

	h.clock.Advance(10 * time.Second)
	f.waitStopped(t)
	final := rendered(t, waitEdit(t, h, admin.ID, id, "Follow ended after 10 minutes."))
	if !strings.Contains(final, "👉 Next: /docker_logs project-orchestrator backend follow") {
		t.Errorf("the final edit lacks the command to follow again:\n%s", final)
	}
}

// TestSecondFollowReplacesTheFirst: one follow per chat; the first's message says it
// was replaced, and its button no longer works. Another chat's follow goes on.
func TestSecondFollowReplacesTheFirst(t *testing.T) {
	h, feeds := followHarness(t)
	first, firstID, firstStop := startFollow(t, h, feeds, admin.ID, admin, "/docker_logs follow")
	other, otherID, _ := startFollow(t, h, feeds, groupChat, admin, "/docker_logs follow")
	second, secondID, _ := startFollow(t, h, feeds, admin.ID, admin, "/docker_logs follow")

	first.waitStopped(t)
	replaced := waitEdit(t, h, admin.ID, firstID, "Follow replaced by a newer follow.")
	if b := buttons(t, replaced); len(b) != 0 {
		t.Errorf("the replaced follow keeps buttons %q", b)
	}
	// Bad input changes nothing: the running follow goes on.
	h.send(admin.ID, admin, "/docker_logs nosuch follow")
	h.waitSent(admin.ID, "Unknown project nosuch.")
	second.write(t, dockerops.FollowLine{Text: "second goes on"})
	waitEdit(t, h, admin.ID, secondID, "second goes on")
	other.write(t, dockerops.FollowLine{Text: "the group's goes on"})
	waitEdit(t, h, groupChat, otherID, "the group's goes on")
	if got := h.answerTo(h.press(admin.ID, admin, firstID, firstStop)); got != "This follow has already ended." {
		t.Errorf("the replaced follow's button answered %q", got)
	}
}

// TestFollowShowsNotes: scar's own lines (a container stopped) show in the message,
// and a follow that dockerops ends says why.
func TestFollowShowsNotes(t *testing.T) {
	h, feeds := followHarness(t)
	f, id, _ := startFollow(t, h, feeds, admin.ID, admin, "/docker_logs follow")
	f.write(t, dockerops.FollowLine{Container: "web", Stream: "stderr", Text: "panic: boom"})
	f.write(t, dockerops.FollowLine{Container: "web", Text: "web stopped (exit code 1)", Note: true})
	got := rendered(t, waitEdit(t, h, admin.ID, id, "web stopped (exit code 1)"))
	if !strings.Contains(got, "panic: boom\n🔔 web stopped (exit code 1)") {
		t.Errorf("the note is not a line of its own after the log line:\n%s", got)
	}
	f.ended <- "the Docker engine went away"
	final := rendered(t, waitEdit(t, h, admin.ID, id, "Follow ended: the Docker engine went away."))
	if !strings.Contains(final, "web stopped (exit code 1)") {
		t.Errorf("the final edit lost the note:\n%s", final)
	}
}

// TestFollowBadInput: bad input is answered as /docker_logs answers it, and no
// follow starts.
func TestFollowBadInput(t *testing.T) {
	notFound := fmt.Errorf("logs of project-orchestrator: container %q: %w", "nope", dockerops.ErrNotFound)
	badSince := fmt.Errorf("since %q: want a duration: %w", "x", dockerops.ErrBadInput)
	var (
		mu       sync.Mutex
		failWith error
	)
	fail := func() error { mu.Lock(); defer mu.Unlock(); return failWith }
	h := newHarness(t, func(cfg *Config, deps *Deps) {
		deps.Follower = &fakeFollower{FollowLogsFn: func(ctx context.Context, project string, req dockerops.FollowRequest) (*dockerops.Follow, error) {
			return nil, fail()
		}}
	})
	h.ops.LogsFn = func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
		return nil, fail()
	}
	for _, tc := range []struct {
		name, follow, logs string
		err                error
		want               string
	}{
		{"unknown project", "/docker_logs nosuch follow", "/docker_logs nosuch", nil, "Unknown project nosuch."},
		{"project not allowed", "/docker_logs secret-app follow", "/docker_logs secret-app", nil, "You are not allowed to act on secret-app."},
		{"unknown container", "/docker_logs project-orchestrator nope follow", "/docker_logs project-orchestrator", notFound, "❓ Not found: "},
		{"bad since", "/docker_logs follow", "/docker_logs", badSince, "⚠️ since"},
		{"docker down", "/docker_logs follow", "/docker_logs", dockerops.ErrDockerUnavailable, "Docker is not answering"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			failWith = tc.err
			mu.Unlock()
			user := admin2 // not in secret-app's allowed_users
			h.send(admin2.ID, user, tc.follow)
			followed := rendered(t, h.waitSent(admin2.ID, tc.want))
			h.send(admin2.ID, user, tc.logs)
			h.marker(admin2.ID)
			var logs string
			for _, s := range h.sentTo(admin2.ID) {
				if strings.Contains(s, tc.want) {
					logs = s
				}
			}
			if followed != logs {
				t.Errorf("follow answered\n%s\n/docker_logs answered\n%s", followed, logs)
			}
		})
	}
	for _, cmd := range []string{"/docker_logs po 100 follow", "/docker_logs a b c follow"} {
		h.send(admin.ID, admin, cmd)
	}
	h.waitSent(admin.ID, "leave out the line count")
	h.waitSent(admin.ID, "usage: /docker_logs [project] [container] follow")
	for _, c := range h.api.Sent() {
		if len(buttons(t, c)) != 0 {
			t.Errorf("bad input started a follow: %s", rendered(t, c))
		}
	}
}

// TestFollowNotAvailableWithoutFollower: a bot without a Follower says so.
func TestFollowNotAvailableWithoutFollower(t *testing.T) {
	h := newHarness(t)
	h.send(admin.ID, admin, "/docker_logs follow")
	h.waitSent(admin.ID, "Following logs is not available on this server yet.")
}

// TestFollowEndsWhenTheBotStops: Shutdown ends every follow, says so in its message,
// and leaves no follow goroutine behind.
func TestFollowEndsWhenTheBotStops(t *testing.T) {
	h, feeds := followHarness(t)
	f, id, _ := startFollow(t, h, feeds, admin.ID, admin, "/docker_logs follow")
	g, gid, _ := startFollow(t, h, feeds, groupChat, admin, "/docker_logs follow")
	f.write(t, dockerops.FollowLine{Text: "before the stop"})
	waitEdit(t, h, admin.ID, id, "before the stop")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.bot.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with follows running: %v", err)
	}
	f.waitStopped(t)
	g.waitStopped(t)
	// Shutdown waited for the final edits: they are in.
	for _, m := range []struct {
		chat int64
		id   int
	}{{admin.ID, id}, {groupChat, gid}} {
		calls := messageCalls(h, m.chat, m.id)
		if last := calls[len(calls)-1]; !strings.Contains(rendered(t, last), "Follow ended: scar is shutting down.") || len(buttons(t, last)) != 0 {
			t.Errorf("chat %d's follow ended with %q", m.chat, rendered(t, last))
		}
	}
	dockertest.WaitFor(t, 10*time.Second, func() bool { return !followGoroutines() })
}

// followGoroutines reports whether a goroutine runs the follow's code.
func followGoroutines() bool {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	return strings.Contains(stacks, "handlers.(*Bot).pump") || strings.Contains(stacks, "handlers.(*Bot).followLogs") ||
		strings.Contains(stacks, "handlers.drainFollow")
}

// TestFollowViewFitsOneMessage: long, HTML-laden lines never make the message pass
// Telegram's 4096 characters; the newest lines are the ones kept.
func TestFollowViewFitsOneMessage(t *testing.T) {
	v := &followView{project: "po", containers: []string{"web", "db"}, again: "/docker_logs follow"}
	for i := range 40 {
		v.add(dockerops.FollowLine{Container: "web", Text: fmt.Sprintf("%02d %s", i, strings.Repeat("<&>", 200))})
	}
	b := &Bot{cfg: Config{FollowInterval: 2 * time.Second, FollowMax: 10 * time.Minute}}
	for name, text := range map[string]string{"live": v.render(b.followFooter()), "final": v.final(b, followStopped).html()} {
		shown, err := telegramfake.Rendered(text, "HTML")
		if err != nil {
			t.Fatalf("%s: bad HTML: %v", name, err)
		}
		if n := textLen(shown); n > messageLimit {
			t.Errorf("%s: %d characters", name, n)
		}
		if !strings.Contains(shown, "web | 39 <&><&>") || strings.Contains(shown, "web | 09 ") {
			t.Errorf("%s: not the newest lines:\n%s", name, shown)
		}
		if !strings.Contains(shown, "📜 po · 2 containers") {
			t.Errorf("%s: header missing:\n%s", name, shown)
		}
	}
}

// TestHelpAndMenuMentionFollow: /help and the command menu tell of follow.
func TestHelpAndMenuMentionFollow(t *testing.T) {
	h := newHarness(t)
	h.send(admin.ID, admin, "/help")
	if help := rendered(t, h.waitSent(admin.ID, "Commands")); !strings.Contains(help, "/docker_logs [project] [container] follow shows new lines live") {
		t.Errorf("help:\n%s", help)
	}
	found := false
	for _, c := range menuCommands() {
		if c.Command == "docker_logs" && strings.Contains(c.Description, "follow") {
			found = true
		}
	}
	if !found {
		t.Error("the menu's docker_logs does not mention follow")
	}
}
