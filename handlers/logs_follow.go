package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/dockerops"
)

// Follower is what /docker_logs … follow asks of dockerops: a follow of a project's
// logs that runs until it is stopped, ctx ends or its time is up.
type Follower interface {
	FollowLogs(ctx context.Context, project string, req dockerops.FollowRequest) (*dockerops.Follow, error)
}

const (
	// followWord, anywhere among /docker_logs' arguments, asks for a follow.
	followWord = "follow"
	// followLines is how many of the newest lines the follow's message shows; the
	// tail asked of dockerops is as long, so that the message starts full.
	followLines = 30
	// maxFollowLine bounds one line in the message, so that one huge line cannot
	// push all the others out.
	maxFollowLine = 400
	// followGrace is added to FollowMax for dockerops' own bound: the bot's clock
	// ends the follow, and dockerops' bound only backs it up.
	followGrace = time.Minute
	// followDrain bounds the wait for a stopped follow to close its lines.
	followDrain = 5 * time.Second
	// dataFollowStop is the data of a follow's ⏹ Stop button: "f:<token>".
	dataFollowStop = "f"
)

// Why a follow ended, as its final edit says it.
const (
	followStopped  = "stopped"
	followReplaced = "replaced by a newer follow"
	followShutdown = "ended: scar is shutting down"
)

// errFollowLines answers a line count given with follow: the message always shows
// the last followLines lines.
var errFollowLines = fmt.Errorf("a follow shows the last %d lines; leave out the line count: /docker_logs [project] [container] follow", followLines)

// splitFollow takes the word follow out of args and reports whether it was there.
func splitFollow(args []string) (rest []string, follow bool) {
	for _, a := range args {
		if strings.EqualFold(a, followWord) {
			follow = true
			continue
		}
		rest = append(rest, a)
	}
	return rest, follow
}

// followArgs reads the arguments of "/docker_logs [project] [container] follow" left
// once follow is taken out: the project ("" = default) and the container ("" = every
// container of the project, as a REST follow without container).
func followArgs(args []string) (project, container string, err error) {
	for _, a := range args {
		if _, isNumber := number(a); isNumber {
			return "", "", errFollowLines
		}
	}
	switch len(args) {
	case 0:
		return "", "", nil
	case 1:
		return args[0], "", nil
	case 2:
		return args[0], args[1], nil
	}
	return "", "", &usageError{usage: "/docker_logs [project] [container] follow"}
}

// followLogs starts a follow for "/docker_logs … follow": a message edited with the
// newest lines, replacing the chat's running follow. Bad input is answered as
// /docker_logs answers it.
func (b *Bot) followLogs(ctx context.Context, in *request, args []string) string {
	name, container, err := followArgs(args)
	if err != nil {
		return "⚠️ " + esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpLogs)
	if p == nil {
		return refusal
	}
	if b.follower == nil {
		return "🚧 Following logs is not available on this server yet.\n" + next(b.cmdRef("docker_logs", p.Name))
	}
	detail := "follow"
	if container != "" {
		detail += " container=" + container
	}
	// The follow outlives this update's handling: it lives on the bot's context and
	// ends by its own stop, its time limit, or the bot's shutdown.
	followCtx, release := context.WithCancel(b.ctx)
	// That context is the follow's whole life, so its start is bounded apart: an
	// engine that does not answer must not hold the chat's updates for ever.
	setup := time.AfterFunc(readTimeout, release)
	f, err := b.follower.FollowLogs(followCtx, p.Name, dockerops.FollowRequest{
		LogsRequest: dockerops.LogsRequest{Container: container, Lines: followLines},
		MaxDuration: b.cfg.FollowMax + followGrace,
	})
	if !setup.Stop() && err == nil {
		f.Stop()
		err = fmt.Errorf("the follow did not start within %s: %w", readTimeout, context.DeadlineExceeded)
	}
	b.record(ctx, in.who(), dockerops.OpLogs, p.Name, auditOutcome(err), detail)
	if err != nil {
		release()
		return errorText("read the logs", err) + "\n" + next(b.cmdRef("docker_status", p.Name))
	}
	s := &chatFollow{chatID: in.chatID, token: newFollowToken(), end: make(chan struct{})}
	replaced, ok := b.follows.start(s)
	if !ok {
		f.Stop()
		release()
		return "⏹ scar is shutting down: no follow now."
	}
	if replaced != nil {
		replaced.stop(followReplaced)
	}
	view := &followView{project: p.Name, container: container, containers: f.Containers, again: b.followRef(p.Name, container)}
	live := b.newLiveMessage(in.chatID, view.render(b.followFooter()), followKeyboard(s.token), b.cfg.FollowInterval)
	// Its time runs from now, not from when the goroutine below gets to run.
	start := b.now()
	b.background(func(ctx context.Context) {
		defer release()
		defer b.follows.remove(s)
		why := b.pump(ctx, s, f, view, live, start)
		f.Stop()
		drainFollow(ctx, f)
		live.finish(ctx, view.final(b, why))
	})
	return ""
}

// pump moves the follow's lines into the message until the follow ends, and returns
// why it ended. The message is re-rendered on a tick rather than per line: a busy
// container writes thousands of lines a second and the message shows 30.
func (b *Bot) pump(ctx context.Context, s *chatFollow, f *dockerops.Follow, view *followView, live *liveMessage, start time.Time) string {
	tick := time.NewTicker(max(b.cfg.FollowInterval/2, 10*time.Millisecond))
	defer tick.Stop()
	footer := b.followFooter()
	dirty := false
	flush := func() {
		if dirty {
			live.set(view.render(footer))
			dirty = false
		}
	}
	for {
		select {
		case l, ok := <-f.Lines:
			if !ok {
				flush()
				reason := f.Reason()
				if reason == "" {
					reason = "the log stream closed"
				}
				return "ended: " + reason
			}
			view.add(l)
			dirty = true
		case <-s.end:
			return s.why
		case <-ctx.Done():
			return followShutdown
		case <-tick.C:
			// The bot's clock, not a timer: tests move it forward.
			if b.now().Sub(start) >= b.cfg.FollowMax {
				return timeUp
			}
			flush()
		}
	}
}

// timeUp is pump's answer when FollowMax has passed.
const timeUp = "time up"

// drainFollow reads a stopped follow's lines until they close, so that its feeder is
// never left blocked on a send; it gives up after followDrain.
func drainFollow(ctx context.Context, f *dockerops.Follow) {
	t := time.NewTimer(followDrain)
	defer t.Stop()
	for {
		select {
		case _, ok := <-f.Lines:
			if !ok {
				return
			}
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// followRef is the command that follows again, as the user would type it.
func (b *Bot) followRef(project, container string) string {
	ref := b.cmdRef("docker_logs", project)
	if container != "" {
		if ref == "/docker_logs" {
			// A container alone would read as a project.
			ref += " " + esc(project)
		}
		ref += " " + esc(container)
	}
	return ref + " " + followWord
}

// followFooter is the live message's last line.
func (b *Bot) followFooter() string {
	return fmt.Sprintf("🔴 Live: updated every %s for up to %s. ⏹ Stop ends it.", duration(b.cfg.FollowInterval), spoken(b.cfg.FollowMax))
}

// spoken says a duration as a sentence does: "10 minutes", "1 minute", else "1m 30s".
func spoken(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "1 minute"
	case d > 0 && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return duration(d)
}

// followKeyboard is the ⏹ Stop button under a follow.
func followKeyboard(token string) *telego.InlineKeyboardMarkup {
	return &telego.InlineKeyboardMarkup{InlineKeyboard: [][]telego.InlineKeyboardButton{{
		{Text: "⏹ Stop", CallbackData: dataFollowStop + ":" + token},
	}}}
}

// newFollowToken names a follow in its button: random, so that a button left from
// before a restart cannot stop a newer follow.
func newFollowToken() string {
	var raw [8]byte
	rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}

// stopFollow answers a press of a follow's ⏹ Stop. Anyone who may use the bot in the
// chat may press it: a follow is a read, and stopping one changes nothing.
func (b *Bot) stopFollow(ctx context.Context, q *telego.CallbackQuery, chatID int64, token string) string {
	text := "This follow has already ended."
	if b.follows.stopToken(chatID, token) {
		text = "Follow stopped."
	}
	if err := b.send.answerCallback(ctx, q.ID, text, false); err != nil {
		b.log.DebugContext(ctx, "telegram: answering a follow's stop", slog.Any("error", err))
	}
	return updateHandled
}

// chatFollow is a chat's running follow.
type chatFollow struct {
	chatID int64
	token  string

	once sync.Once
	end  chan struct{} // closed by stop
	why  string        // set before end is closed
}

// stop ends the follow for why; only the first call counts, and only it reports true.
func (c *chatFollow) stop(why string) (stopped bool) {
	c.once.Do(func() {
		c.why = why
		close(c.end)
		stopped = true
	})
	return stopped
}

// followRegistry holds the running follow of each chat: one per chat.
type followRegistry struct {
	mu     sync.Mutex
	byChat map[int64]*chatFollow
	closed bool
}

func newFollowRegistry() *followRegistry {
	return &followRegistry{byChat: make(map[int64]*chatFollow)}
}

// start makes s its chat's follow and returns the one it replaces, which the caller
// stops. It reports false when the bot is shutting down.
func (r *followRegistry) start(s *chatFollow) (replaced *chatFollow, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false
	}
	replaced = r.byChat[s.chatID]
	r.byChat[s.chatID] = s
	return replaced, true
}

// remove forgets s unless a newer follow has replaced it already.
func (r *followRegistry) remove(s *chatFollow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byChat[s.chatID] == s {
		delete(r.byChat, s.chatID)
	}
}

// stopToken stops the chat's follow named token and reports whether there was one.
func (r *followRegistry) stopToken(chatID int64, token string) bool {
	r.mu.Lock()
	s := r.byChat[chatID]
	r.mu.Unlock()
	if s == nil || s.token != token {
		return false
	}
	// A press after the follow has ended (the registry lets go of it only once its
	// final edit is out) finds it stopped already: it is told so.
	return s.stop(followStopped)
}

// closeAll stops every follow and refuses new ones: the bot is shutting down.
func (r *followRegistry) closeAll() {
	r.mu.Lock()
	r.closed = true
	running := make([]*chatFollow, 0, len(r.byChat))
	for _, s := range r.byChat {
		running = append(running, s)
	}
	r.mu.Unlock()
	for _, s := range running {
		s.stop(followShutdown)
	}
}
