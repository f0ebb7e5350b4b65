package handlers

import (
	"fmt"
	"strings"
	"sync"

	"github.com/scar-dev/scar/dockerops"
)

// followTime is how a follow's lines are stamped: the day is the message's, and a
// phone's line is short.
const followTime = "15:04:05"

// followView is a follow's message: a header, the newest lines that fit, and a
// footer that says how it goes on or how it ended.
type followView struct {
	project   string
	container string // as asked; "" for every container
	// containers are those followed; with more than one, each line names its own.
	containers []string
	again      string // the command that follows again

	mu    sync.Mutex
	lines []line // the newest followLines, oldest first
}

// add keeps l among the newest lines: a container's line preformatted, scar's note
// (a container stopped, the engine went away) as a line of its own.
func (v *followView) add(l dockerops.FollowLine) {
	var shown line
	if l.Note {
		shown = line{text: "🔔 <i>" + esc(clip(l.Text, maxFollowLine)) + "</i>"}
	} else {
		var sb strings.Builder
		if !l.Time.IsZero() {
			sb.WriteString(l.Time.UTC().Format(followTime) + " ")
		}
		if len(v.containers) != 1 && l.Container != "" {
			sb.WriteString(clip(l.Container, 24) + " | ")
		}
		sb.WriteString(l.Text)
		shown = line{text: clip(sb.String(), maxFollowLine), pre: true}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lines = append(v.lines, shown)
	if len(v.lines) > followLines {
		v.lines = append(v.lines[:0], v.lines[len(v.lines)-followLines:]...)
	}
}

// header names what is followed.
func (v *followView) header() string {
	switch {
	case v.container != "":
		return fmt.Sprintf("📜 <b>%s</b> · %s", esc(clip(v.container, maxDynamic)), esc(v.project))
	case len(v.containers) == 1:
		return fmt.Sprintf("📜 <b>%s</b> · %s", esc(clip(v.containers[0], maxDynamic)), esc(v.project))
	}
	return fmt.Sprintf("📜 <b>%s</b> · %d containers", esc(v.project), len(v.containers))
}

// render is the message with footer as its last lines: as many of the newest lines
// as fit in one Telegram message with it.
func (v *followView) render(footer ...string) string {
	head := line{text: v.header()}
	var tail []line
	for _, f := range footer {
		tail = append(tail, line{text: f})
	}
	room := messageLimit - visibleLen(head) - 1
	for _, l := range tail {
		room -= visibleLen(l) + 1
	}
	v.mu.Lock()
	var kept []line
	for i := len(v.lines) - 1; i >= 0; i-- {
		cost := visibleLen(v.lines[i]) + 1
		if cost > room {
			break
		}
		room -= cost
		kept = append(kept, v.lines[i])
	}
	v.mu.Unlock()
	out := []line{head}
	if len(kept) == 0 {
		out = append(out, line{text: "<i>No lines yet: waiting for new ones…</i>"})
	}
	for i := len(kept) - 1; i >= 0; i-- {
		out = append(out, kept[i])
	}
	return render(append(out, tail...))
}

// final is the message once the follow ended for why; it keeps the lines and has
// no button.
func (v *followView) final(b *Bot, why string) *reply {
	var status string
	switch why {
	case timeUp:
		status = fmt.Sprintf("⌛ <b>Follow ended after %s.</b>", spoken(b.cfg.FollowMax))
	case followStopped:
		status = "⏹ <b>Follow stopped.</b>"
	default:
		status = "⏹ <b>Follow " + esc(clip(why, maxDynamic)) + ".</b>"
	}
	return &reply{lines: []line{{text: v.render(status, next(v.again))}}}
}
