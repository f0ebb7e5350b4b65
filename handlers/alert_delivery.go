package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/scar-dev/scar/store"
)

// deliver does a chat's work: edits of messages whose incidents changed, a summary of
// those too old, and new incidents folded into the chat's young message or sent in a
// new one. A chat Telegram refuses is recorded as refused; any other failure is
// returned, the work staying pending in the store.
//
// Telegram refusing the message itself (any other 4xx but 429) would refuse it again
// at every sweep: those alerts are recorded as failed in that chat and logged, so
// that nothing is retried for ever; the chat keeps getting the others.
func (n *notifier) deliver(ctx context.Context, chat int64, w *chatWork) error {
	err := n.deliverWork(ctx, chat, w)
	switch {
	case errors.Is(err, errMessageGone):
		return err
	case refusedChat(err):
		n.mu.Lock()
		n.refused[chat] = n.b.now()
		n.mu.Unlock()
		n.b.log.ErrorContext(ctx, "telegram: an alert chat refused alerts; none is tried there for a day, also across restarts",
			slog.Int64("chat_id", chat), slog.Any("error", err))
		n.refuse(ctx, chat, w, store.AlertRefused)
		return nil
	case badRequest(err):
		n.b.log.ErrorContext(ctx, "telegram: the Bot API refused alert messages; they are recorded as failed in this chat, not retried",
			slog.Int64("chat_id", chat), slog.Any("error", err))
		n.refuse(ctx, chat, w, store.AlertFailed)
		return nil
	}
	return err
}

// errMessageGone marks an alert message Telegram would not edit: its changed
// incidents are placed anew at the next sweep.
var errMessageGone = errors.New("the alert message can no longer be edited")

func (n *notifier) deliverWork(ctx context.Context, chat int64, w *chatWork) error {
	for _, msg := range w.edits {
		if err := n.refresh(ctx, chat, msg); err != nil {
			return err
		}
	}
	if err := n.place(ctx, chat, w.summary, store.AlertSummarised); err != nil {
		return err
	}
	return n.place(ctx, chat, w.place, store.AlertSent)
}

// place shows incidents not yet in the chat: folded into the chat's young message of
// that outcome (sent or summarised) while they fit, the rest in new messages. A
// summary is always one message, however many it carries: what does not fit is
// counted in its last line ("…and N more: /docker_alerts").
func (n *notifier) place(ctx context.Context, chat int64, rest []store.Incident, outcome string) error {
	summary := outcome == store.AlertSummarised
	if len(rest) == 0 {
		return nil
	}
	if g, err := n.group(ctx, chat, outcome); err != nil {
		return err
	} else if g != nil {
		shown, _, err := n.db.MessageAlerts(ctx, chat, g.messageID)
		if err != nil {
			return err
		}
		k := len(rest)
		if !summary {
			k = n.fitting(shown, rest)
		}
		if k > 0 {
			claims := make([]store.AlertMessage, k)
			for i, in := range rest[:k] {
				claims[i] = store.AlertMessage{IncidentID: in.ID, ChatID: chat, MessageID: g.messageID, SentAt: n.b.now()}
				if summary {
					claims[i].Outcome = outcome
				}
			}
			if err := n.db.RecordAlerts(ctx, claims...); err != nil {
				return err
			}
			if err := n.refresh(ctx, chat, g.messageID); err != nil {
				return err
			}
			rest = rest[k:]
		}
	}
	for len(rest) > 0 {
		k := len(rest)
		if !summary {
			k = max(1, n.fitting(nil, rest))
		}
		if err := n.sendNew(ctx, chat, rest[:k], outcome); err != nil {
			return err
		}
		rest = rest[k:]
	}
	return nil
}

// fitting is how many of rest fit in one message after shown.
func (n *notifier) fitting(shown, rest []store.Incident) int {
	k := 0
	for k < len(rest) {
		if _, fits := alertReply(append(slices.Clone(shown), rest[:k+1]...), false, n.maxAge); !fits {
			break
		}
		k++
	}
	return k
}

// group returns the chat's message that new incidents fold into, nil when there is
// none young enough.
func (n *notifier) group(ctx context.Context, chat int64, outcome string) (*alertGroup, error) {
	key := groupKey{chat, outcome}
	n.mu.Lock()
	g, ok := n.groups[key]
	n.mu.Unlock()
	if !ok {
		id, at, err := n.db.LatestAlertMessage(ctx, chat, outcome)
		if err != nil {
			return nil, err
		}
		if id != 0 {
			g = &alertGroup{messageID: id, openedAt: at}
		}
		n.mu.Lock()
		n.groups[key] = g
		n.mu.Unlock()
	}
	if g == nil || n.b.now().Sub(g.openedAt) >= n.fold {
		return nil, nil
	}
	return g, nil
}

// sendNew sends ins in a new message and records it; it becomes the chat's message
// that the next ones of the same outcome fold into.
func (n *notifier) sendNew(ctx context.Context, chat int64, ins []store.Incident, outcome string) error {
	r, _ := alertReply(ins, outcome == store.AlertSummarised, n.maxAge)
	id, err := n.b.send.sendMessage(ctx, chat, r.html(), alertKeyboard(ins))
	if err != nil {
		return err
	}
	now := n.b.now()
	rows := make([]store.AlertMessage, len(ins))
	for i, in := range ins {
		rows[i] = store.AlertMessage{IncidentID: in.ID, ChatID: chat, MessageID: id, SentVersion: in.Version, SentAt: now, Outcome: outcome}
		n.shown(in, outcome, now)
	}
	n.mu.Lock()
	n.groups[groupKey{chat, outcome}] = &alertGroup{messageID: id, openedAt: now}
	n.mu.Unlock()
	return n.record(ctx, rows)
}

// record writes rows after Telegram accepted what they say: on the bot's context
// rather than the sweep's, so that a stop between the two does not make a message be
// sent again.
func (n *notifier) record(ctx context.Context, rows []store.AlertMessage) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), alertWriteTimeout)
	defer cancel()
	return n.db.RecordAlerts(wctx, rows...)
}

// shown counts an incident shown for the first time in a chat and observes its delay.
func (n *notifier) shown(in store.Incident, outcome string, now time.Time) {
	n.b.metrics.AlertsTotal.WithLabelValues(in.Kind, outcome).Inc()
	n.b.metrics.AlertDelay.Observe(now.Sub(in.EventAt).Seconds())
}

// refresh edits a message to show the current state of every incident it carries,
// then records the versions shown. A message Telegram will not edit any more (deleted,
// too old) gives its changed incidents back to be placed anew.
func (n *notifier) refresh(ctx context.Context, chat int64, msg int) error {
	ins, rows, err := n.db.MessageAlerts(ctx, chat, msg)
	if err != nil || len(ins) == 0 {
		return err
	}
	summary := true
	for _, a := range rows {
		if a.Outcome != store.AlertSummarised {
			summary = false
		}
	}
	r, _ := alertReply(ins, summary, n.maxAge)
	err = n.b.send.editMessage(ctx, chat, msg, r.html(), alertKeyboard(ins))
	if err != nil && !refusedChat(err) && badRequest(err) {
		return n.release(ctx, chat, msg, ins, rows, err)
	}
	if err != nil {
		return err
	}
	now := n.b.now()
	var done []store.AlertMessage
	for i, in := range ins {
		a := rows[i]
		if a.SentVersion >= in.Version {
			continue
		}
		if a.Outcome != store.AlertSummarised {
			// A claim (no outcome yet), or an incident shown before a mute.
			a.Outcome = store.AlertSent
		}
		if a.SentVersion == 0 {
			n.shown(in, a.Outcome, now)
		}
		if a.SentAt.IsZero() {
			a.SentAt = now
		}
		a.SentVersion = in.Version
		done = append(done, a)
	}
	return n.record(ctx, done)
}

// release takes the changed incidents out of a message Telegram refused to edit, so
// that the next sweep places them in a new one.
func (n *notifier) release(ctx context.Context, chat int64, msg int, ins []store.Incident, rows []store.AlertMessage, cause error) error {
	n.b.log.WarnContext(ctx, "telegram: an alert message could not be edited; its changed alerts go in a new one",
		slog.Int64("chat_id", chat), slog.Int("message_id", msg), slog.Any("error", cause))
	var out []store.AlertMessage
	for i, in := range ins {
		if rows[i].SentVersion < in.Version {
			a := rows[i]
			a.MessageID = 0
			out = append(out, a)
		}
	}
	n.mu.Lock()
	for key, g := range n.groups {
		if key.chat == chat && g != nil && g.messageID == msg {
			n.groups[key] = nil
		}
	}
	n.mu.Unlock()
	if err := n.db.RecordAlerts(ctx, out...); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w", errMessageGone, cause)
}

// refuse records the incidents of a chat's work that Telegram did not take, with
// outcome refused (the chat) or failed (the messages).
func (n *notifier) refuse(ctx context.Context, chat int64, w *chatWork, outcome string) {
	now := n.b.now()
	ids := make([]int64, len(w.ids))
	copy(ids, w.ids)
	all, err := n.db.AlertMessagesOf(ctx, ids)
	if err != nil {
		return
	}
	have := make(map[int64]store.AlertMessage)
	for _, a := range all {
		if a.ChatID == chat {
			have[a.IncidentID] = a
		}
	}
	var rows []store.AlertMessage
	for _, in := range append(append(slices.Clone(w.place), w.summary...), n.editedIncidents(ctx, chat, w)...) {
		a, has := have[in.ID]
		if has && a.SentVersion >= in.Version {
			continue
		}
		rows = append(rows, n.settle(in, chat, a, has, outcome, now))
	}
	if err := n.record(ctx, rows); err != nil {
		n.b.log.ErrorContext(ctx, "telegram: recording a refused alert chat", slog.Any("error", err))
	}
}

// editedIncidents are the incidents of the messages a chat's work was to edit.
func (n *notifier) editedIncidents(ctx context.Context, chat int64, w *chatWork) []store.Incident {
	var out []store.Incident
	for _, msg := range w.edits {
		ins, _, err := n.db.MessageAlerts(ctx, chat, msg)
		if err == nil {
			out = append(out, ins...)
		}
	}
	return out
}

// refusedChat reports Telegram refusing a chat for good: the bot was removed or
// blocked, or may not write first to a user (403), the chat does not exist (400 chat
// not found) or became a supergroup with another id.
func refusedChat(err error) bool {
	var apiErr *ta.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == 403 ||
		(apiErr.ErrorCode == 400 && (strings.Contains(strings.ToLower(apiErr.Description), "chat not found") ||
			strings.Contains(apiErr.Description, "upgraded to a supergroup")))
}

// badRequest reports a request Telegram refused as such (4xx other than 429).
func badRequest(err error) bool {
	var apiErr *ta.Error
	return errors.As(err, &apiErr) && apiErr.ErrorCode >= 400 && apiErr.ErrorCode < 500 && apiErr.ErrorCode != 429
}
