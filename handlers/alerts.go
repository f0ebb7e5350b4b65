package handlers

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	ta "github.com/mymmrac/telego/telegoapi"

	"github.com/scar-dev/scar/store"
)

// AlertLog is the notification log the alert notifier works from; store.DB
// satisfies it.
type AlertLog interface {
	PendingAlerts(ctx context.Context, limit int) ([]store.Incident, error)
	MarkAlerted(ctx context.Context, incidentID int64, version int) error
	AlertMessagesOf(ctx context.Context, incidentIDs []int64) ([]store.AlertMessage, error)
	MessageAlerts(ctx context.Context, chatID int64, messageID int) ([]store.Incident, []store.AlertMessage, error)
	RecordAlerts(ctx context.Context, as ...store.AlertMessage) error
	LatestAlertMessage(ctx context.Context, chatID int64, outcome string) (int, time.Time, error)
	RefusedAlertChats(ctx context.Context) (map[int64]time.Time, error)
}

// MuteStore keeps muted projects; store.DB satisfies it.
type MuteStore interface {
	SetMute(ctx context.Context, m store.Mute) error
	Unmute(ctx context.Context, project string, now time.Time) (bool, error)
	Mutes(ctx context.Context, now time.Time) (map[string]store.Mute, error)
}

// IncidentReader reads incidents; store.DB satisfies it.
type IncidentReader interface {
	Incident(ctx context.Context, id int64) (*store.Incident, error)
	Incidents(ctx context.Context, q store.IncidentQuery) ([]store.Incident, error)
}

// AlertStore is what alerts ask of the state store.
type AlertStore interface {
	AlertLog
	MuteStore
	IncidentReader
}

const (
	// pendingBatch bounds the incidents one sweep takes.
	pendingBatch = 500
	// refusedRetry is how long a chat Telegram refused is left alone before one more
	// alert is tried there (the bot may have been added back).
	refusedRetry = 24 * time.Hour
	// alertWriteTimeout bounds the notification log write after a send, which must
	// land even when the notifier is stopping.
	alertWriteTimeout = 5 * time.Second
)

// notifier delivers incidents to the alert chats, grouped like Alertmanager's
// notifications: the first incident of a burst goes out at once, those that follow
// within the fold window are folded into that message by editing it, and later changes
// of an incident edit the message that shows it. It works from the store alone — a
// poke only wakes it early — so that an incident written before a crash or while the
// Bot API was down is sent when it can be, and the notification log (alert_messages)
// makes sure that none is sent twice.
//
// Order of writes: a new message is sent first and its rows written after (a crash in
// between repeats that one message, the only repeat possible); a fold claims its
// rows (message id, version 0) first and edits after, so a crash in between only
// repeats the edit, which shows the same text.
type notifier struct {
	b     *Bot
	db    AlertLog
	mutes MuteStore
	chats []int64 // SCAR_ALERT_CHATS
	// maxAge: an incident not yet shown that is older goes into a summary message.
	maxAge time.Duration
	// fold is how long after a message was opened new incidents are folded into it.
	fold time.Duration
	// every is the sweep period without pokes.
	every time.Duration

	poke   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the loop.
	groups  map[groupKey]*alertGroup
	refused map[int64]time.Time
	loaded  bool
	failing bool // the last sweep failed: said once
}

// groupKey names a chat's message of new alerts, or of summarised ones.
type groupKey struct {
	chat    int64
	outcome string
}

// alertGroup is the message of a chat that new incidents fold into.
type alertGroup struct {
	messageID int
	openedAt  time.Time
}

func newNotifier(b *Bot, as AlertStore, chats []int64, maxAge, fold, every time.Duration) *notifier {
	return &notifier{
		b: b, db: as, mutes: as, chats: chats, maxAge: maxAge, fold: fold, every: every,
		poke:    make(chan struct{}, 1),
		groups:  make(map[groupKey]*alertGroup),
		refused: make(map[int64]time.Time),
	}
}

// start runs the loop until stop.
func (n *notifier) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	n.cancel = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.run(ctx)
	}()
}

// stop ends the loop and waits for it.
func (n *notifier) stop() {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
}

// PokeAlerts wakes the alert notifier: an incident changed. It never blocks; without
// alerts configured it does nothing. Nothing depends on it: the notifier also sweeps
// the store every few seconds.
func (b *Bot) PokeAlerts() {
	if b.alerts == nil {
		return
	}
	select {
	case b.alerts.poke <- struct{}{}:
	default:
	}
}

func (n *notifier) run(ctx context.Context) {
	tick := time.NewTicker(n.every)
	defer tick.Stop()
	for {
		n.sweepSafely(ctx)
		select {
		case <-ctx.Done():
			return
		case <-n.poke:
		case <-tick.C:
		}
	}
}

// sweepSafely is one sweep; a panic in it is logged and the loop goes on.
func (n *notifier) sweepSafely(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			n.b.log.ErrorContext(ctx, "telegram: panic in the alert notifier", slog.Any("panic", r))
		}
	}()
	err := n.sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil && !n.failing:
		n.failing = true
		n.b.log.WarnContext(ctx, "telegram: alerts wait in the store: delivering failed; retrying", slog.Any("error", err))
	case err == nil && n.failing:
		n.failing = false
		n.b.log.InfoContext(ctx, "telegram: alerts delivered again")
	}
}

// chatWork is what one sweep has to do in one chat.
type chatWork struct {
	edits   []int // messages to edit, each showing an incident that changed
	summary []store.Incident
	place   []store.Incident
	ids     []int64 // every incident involved
}

// sweep delivers what the store has pending.
func (n *notifier) sweep(ctx context.Context) error {
	if !n.loaded {
		refused, err := n.db.RefusedAlertChats(ctx)
		if err != nil {
			return err
		}
		for chat, at := range refused {
			n.refused[chat] = at
		}
		n.loaded = true
	}
	ins, err := n.db.PendingAlerts(ctx, pendingBatch)
	if err != nil || len(ins) == 0 {
		return err
	}
	now := n.b.now()
	mutes, err := n.mutes.Mutes(ctx, now)
	if err != nil {
		return err
	}
	ids := make([]int64, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	all, err := n.db.AlertMessagesOf(ctx, ids)
	if err != nil {
		return err
	}
	rows := make(map[[2]int64]store.AlertMessage, len(all))
	for _, a := range all {
		rows[[2]int64{a.IncidentID, a.ChatID}] = a
	}

	work := make(map[int64]*chatWork)
	var settled []store.AlertMessage
	for _, in := range ins {
		for _, chat := range n.targets(in) {
			row, has := rows[[2]int64{in.ID, chat}]
			if has && row.SentVersion >= in.Version {
				continue
			}
			_, muted := mutes[in.Project]
			switch {
			case n.isRefused(chat, now):
				settled = append(settled, n.settle(in, chat, row, has, store.AlertRefused, now))
			case muted && in.Project != "":
				settled = append(settled, n.settle(in, chat, row, has, store.AlertMuted, now))
			default:
				w := work[chat]
				if w == nil {
					w = &chatWork{}
					work[chat] = w
				}
				w.ids = append(w.ids, in.ID)
				switch {
				case has && row.MessageID != 0:
					if !slices.Contains(w.edits, row.MessageID) {
						w.edits = append(w.edits, row.MessageID)
					}
				case now.Sub(in.EventAt) > n.maxAge:
					w.summary = append(w.summary, in)
				default:
					w.place = append(w.place, in)
				}
			}
		}
	}
	if err := n.db.RecordAlerts(ctx, settled...); err != nil {
		return err
	}

	undone := make(map[int64]bool)
	var firstErr error
	chats := make([]int64, 0, len(work))
	for chat := range work {
		chats = append(chats, chat)
	}
	slices.Sort(chats)
	for _, chat := range chats {
		w := work[chat]
		if err := n.deliver(ctx, chat, w); err != nil {
			for _, id := range w.ids {
				undone[id] = true
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	for _, in := range ins {
		if !undone[in.ID] {
			if err := n.db.MarkAlerted(ctx, in.ID, in.Version); err != nil {
				return err
			}
		}
	}
	return firstErr
}

// settle records an incident's change as not sent to chat, with outcome; it is
// counted the first time the incident gets that outcome there.
func (n *notifier) settle(in store.Incident, chat int64, row store.AlertMessage, has bool, outcome string, now time.Time) store.AlertMessage {
	if !has || row.Outcome != outcome {
		n.b.metrics.AlertsTotal.WithLabelValues(in.Kind, outcome).Inc()
	}
	at := row.SentAt
	if at.IsZero() || row.Outcome != outcome {
		at = now
	}
	return store.AlertMessage{IncidentID: in.ID, ChatID: chat, MessageID: row.MessageID, SentVersion: in.Version, SentAt: at, Outcome: outcome}
}

// targets are the chats an incident goes to: SCAR_ALERT_CHATS and the project's
// alert_chats; none when the project has alerts off. A host incident, or one of a
// project no longer configured, goes to SCAR_ALERT_CHATS.
func (n *notifier) targets(in store.Incident) []int64 {
	out := slices.Clone(n.chats)
	if in.Project != "" {
		if p, err := n.b.projects.Resolve(in.Project); err == nil {
			if !p.Alerts {
				return nil
			}
			out = append(out, p.AlertChats...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (n *notifier) isRefused(chat int64, now time.Time) bool {
	at, ok := n.refused[chat]
	return ok && now.Sub(at) < refusedRetry
}

// deliver does a chat's work: edits of messages whose incidents changed, a summary of
// those too old, and new incidents folded into the chat's young message or sent in a
// new one. A chat Telegram refuses is recorded as refused; any other failure is
// returned, the work staying pending in the store.
func (n *notifier) deliver(ctx context.Context, chat int64, w *chatWork) error {
	err := n.deliverWork(ctx, chat, w)
	if refusedChat(err) {
		n.refuse(ctx, chat, w, err)
		return nil
	}
	return err
}

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
// that outcome (sent or summarised) while they fit, the rest in new messages.
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
		k := 0
		for k < len(rest) {
			if _, fits := alertReply(append(slices.Clone(shown), rest[:k+1]...), summary, n.maxAge); !fits {
				break
			}
			k++
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
		k := 1
		for k < len(rest) {
			if _, fits := alertReply(rest[:k+1], summary, n.maxAge); !fits {
				break
			}
			k++
		}
		if err := n.sendNew(ctx, chat, rest[:k], outcome); err != nil {
			return err
		}
		rest = rest[k:]
	}
	return nil
}

// group returns the chat's message that new incidents fold into, nil when there is
// none young enough.
func (n *notifier) group(ctx context.Context, chat int64, outcome string) (*alertGroup, error) {
	key := groupKey{chat, outcome}
	g, ok := n.groups[key]
	if !ok {
		id, at, err := n.db.LatestAlertMessage(ctx, chat, outcome)
		if err != nil {
			return nil, err
		}
		if id != 0 {
			g = &alertGroup{messageID: id, openedAt: at}
		}
		n.groups[key] = g
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
	n.groups[groupKey{chat, outcome}] = &alertGroup{messageID: id, openedAt: now}
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
	for key, g := range n.groups {
		if key.chat == chat && g != nil && g.messageID == msg {
			n.groups[key] = nil
		}
	}
	if err := n.db.RecordAlerts(ctx, out...); err != nil {
		return err
	}
	return cause
}

// refuse records a chat Telegram refused: its incidents of this sweep get outcome
// refused, it is said once in the log, and no alert is tried there for refusedRetry.
func (n *notifier) refuse(ctx context.Context, chat int64, w *chatWork, cause error) {
	now := n.b.now()
	n.refused[chat] = now
	n.b.log.ErrorContext(ctx, "telegram: an alert chat refused alerts; none is tried there for a day, also across restarts",
		slog.Int64("chat_id", chat), slog.Any("error", cause))
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
		rows = append(rows, n.settle(in, chat, a, has, store.AlertRefused, now))
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
// blocked (403), or the chat does not exist (400 chat not found).
func refusedChat(err error) bool {
	var apiErr *ta.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == 403 ||
		(apiErr.ErrorCode == 400 && strings.Contains(strings.ToLower(apiErr.Description), "chat not found"))
}

// badRequest reports a request Telegram refused as such (4xx other than 429).
func badRequest(err error) bool {
	var apiErr *ta.Error
	return errors.As(err, &apiErr) && apiErr.ErrorCode >= 400 && apiErr.ErrorCode < 500 && apiErr.ErrorCode != 429
}
