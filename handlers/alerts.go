package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

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

var _ AlertStore = (*store.DB)(nil)

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

	// mu guards groups and refused: a sweep delivers to its chats in parallel.
	mu      sync.Mutex
	groups  map[groupKey]*alertGroup
	refused map[int64]time.Time
	// Owned by the loop.
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
		n.mu.Lock()
		for chat, at := range refused {
			n.refused[chat] = at
		}
		n.mu.Unlock()
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
			// A mute silences new alerts; a message already shown is still edited
			// (silently), so that it does not show a recovered incident failing.
			_, muted := mutes[in.Project]
			shown := has && row.MessageID != 0
			switch {
			case n.isRefused(chat, now):
				settled = append(settled, n.settle(in, chat, row, has, store.AlertRefused, now))
			case muted && in.Project != "" && !shown:
				settled = append(settled, n.settle(in, chat, row, has, store.AlertMuted, now))
			default:
				w := work[chat]
				if w == nil {
					w = &chatWork{}
					work[chat] = w
				}
				w.ids = append(w.ids, in.ID)
				switch {
				case shown:
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

	// Chats are delivered in parallel: one that waits out a 429 or a slow group limit
	// does not hold the others' alerts back. The sweep waits for every one.
	undone := make(map[int64]bool)
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for chat, w := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.deliverSafely(ctx, chat, w)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range w.ids {
				undone[id] = true
			}
			if firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	for _, in := range ins {
		if !undone[in.ID] {
			if err := n.db.MarkAlerted(ctx, in.ID, in.Version); err != nil {
				return err
			}
		}
	}
	return firstErr
}

// deliverSafely is deliver with a panic turned into an error: the chat's alerts
// stay pending and the notifier goes on.
func (n *notifier) deliverSafely(ctx context.Context, chat int64, w *chatWork) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("telegram: panic delivering alerts to chat %d: %v", chat, r)
		}
	}()
	return n.deliver(ctx, chat, w)
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

// heard takes back a chat's refusal: a message came from it, so the bot is there
// again (added back to the group, or started by the user of a private chat).
func (n *notifier) heard(chat int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.refused, chat)
}

func (n *notifier) isRefused(chat int64, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.refused[chat]
	return ok && now.Sub(at) < refusedRetry
}
