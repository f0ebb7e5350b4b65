package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/mymmrac/telego"
)

// Outcomes of an update, the outcome label of scar_telegram_updates_total.
const (
	updateHandled        = "handled"
	updateDuplicate      = "duplicate"
	updateUnauthorized   = "unauthorized"
	updateRejectedSecret = "rejected_secret"
	updateMalformed      = "malformed"
	// updateIgnored: nothing for scar in it (an edit, a channel post, another bot's
	// command, a message from a bot).
	updateIgnored = "ignored"
	// updateRateLimited: the user sent more than their share of commands.
	updateRateLimited = "rate_limited"
	// updateDropped: the queues were full or the bot was stopping.
	updateDropped = "dropped"
)

// secretHeader carries the webhook secret Telegram was given in setWebhook.
const secretHeader = "X-Telegram-Bot-Api-Secret-Token"

// pruneEvery is how often old update ids are forgotten.
const pruneEvery = time.Hour

// WebhookHandler receives updates POSTed by Telegram. A request without the right
// secret gets 401 and nothing else happens. Otherwise the update is answered 200 at
// once and handled after, in its chat's order; a repeated update_id is answered 200
// and not handled again. While the bot shuts down it answers 503, so that Telegram
// delivers the update again later.
func (b *Bot) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(secretHeader)
		want := b.cfg.WebhookSecret
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			b.countUpdate("unknown", updateRejectedSecret)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if b.closing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.cfg.MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				b.countUpdate("unknown", updateMalformed)
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		u, err := DecodeUpdate(body)
		if err != nil {
			// 200 all the same: Telegram would send the same bytes again and again.
			b.countUpdate("unknown", updateMalformed)
			b.log.WarnContext(r.Context(), "telegram webhook: undecodable update", slog.Any("error", err), slog.Int("bytes", len(body)))
			w.WriteHeader(http.StatusOK)
			return
		}
		if !b.take(r.Context(), u) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// RunPolling receives updates with getUpdates long polling until ctx ends or the bot
// shuts down, for a server Telegram cannot reach. It deletes any webhook first
// (Telegram refuses getUpdates while one is set). Updates then go the same way as
// webhook ones. Failed calls are retried with growing pauses, so it returns nil
// only when told to stop.
func (b *Bot) RunPolling(ctx context.Context) error {
	// Telegram may be unreachable when scar starts: keep trying, as getUpdates does.
	failures := 0
	for {
		err := b.send.call(ctx, "deleteWebhook", 0, func(ctx context.Context) error {
			return b.api.DeleteWebhook(ctx, &telego.DeleteWebhookParams{})
		})
		if err == nil {
			break
		}
		failures++
		if ctx.Err() != nil || sleep(ctx, min(time.Duration(failures)*time.Second, 30*time.Second)) != nil {
			return nil
		}
	}
	b.log.InfoContext(ctx, "telegram long polling started")
	offset := 0
	failures = 0
	for ctx.Err() == nil && !b.closing.Load() {
		var batch []telego.Update
		err := b.send.call(ctx, "getUpdates", 0, func(callCtx context.Context) error {
			// The call's own deadline must outlast the long poll.
			pollCtx, cancel := context.WithTimeout(ctx, b.cfg.PollTimeout+callTimeout)
			defer cancel()
			var err error
			batch, err = b.api.GetUpdates(pollCtx, &telego.GetUpdatesParams{
				Offset:         offset,
				Timeout:        int(b.cfg.PollTimeout / time.Second),
				AllowedUpdates: allowedUpdates,
			})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// The sender retried already; wait longer the more often it fails.
			failures++
			if sleep(ctx, min(time.Duration(failures)*time.Second, 30*time.Second)) != nil {
				break
			}
			continue
		}
		failures = 0
		for _, u := range batch {
			// The next getUpdates confirms everything up to offset, so an update taken
			// here is not delivered again; one that could not be queued is left for
			// the next start (and the store says whether it ran).
			if !b.take(ctx, u) {
				if b.closing.Load() {
					return nil
				}
				// The queues are full: this update and the rest of the batch come
				// again with the next getUpdates, once the workers made room.
				if sleep(ctx, time.Second) != nil {
					return nil
				}
				break
			}
			offset = u.UpdateID + 1
		}
	}
	b.log.InfoContext(ctx, "telegram long polling stopped")
	return nil
}

// take checks an update against the processed ids and queues it in its chat. It
// reports false when the update was not taken and should be delivered again: the bot
// is stopping, or the queues are full.
func (b *Bot) take(ctx context.Context, u telego.Update) bool {
	kind := updateKind(u)
	if b.closing.Load() {
		b.countUpdate(kind, updateDropped)
		return false
	}
	b.pruneUpdates(ctx)
	first, err := b.updates.MarkUpdate(ctx, int64(u.UpdateID), b.now())
	if err != nil {
		// Without the store, handling twice is the lesser harm than not at all.
		b.log.ErrorContext(ctx, "telegram: recording update id", slog.Int("update_id", u.UpdateID), slog.Any("error", err))
		first = true
	}
	if !first {
		b.countUpdate(kind, updateDuplicate)
		return true
	}
	chatID, ok := relevant(u)
	if !ok {
		b.countUpdate(kind, updateIgnored)
		return true
	}
	queued := b.queue.submit(chatID, func() {
		b.countUpdate(kind, b.handleSafely(b.ctx, u))
	})
	if !queued {
		// The queues fill when the chat workers are stuck (a Bot API outage): the
		// update is left to Telegram, which delivers it again later, rather than lost.
		b.countUpdate(kind, updateDropped)
		b.log.WarnContext(ctx, "telegram: queues full, update left for Telegram to deliver again", slog.Int("update_id", u.UpdateID), slog.Int64("chat_id", chatID))
		if err := b.updates.ForgetUpdate(ctx, int64(u.UpdateID)); err != nil {
			b.log.ErrorContext(ctx, "telegram: forgetting an update id", slog.Int("update_id", u.UpdateID), slog.Any("error", err))
		}
		return false
	}
	return true
}

// pruneUpdates forgets update ids past the retention window, at most once per pruneEvery.
func (b *Bot) pruneUpdates(ctx context.Context) {
	now := b.now()
	last := b.lastPrune.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !b.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := b.updates.PruneUpdates(ctx, now.Add(-b.cfg.UpdateRetention)); err != nil {
		b.log.WarnContext(ctx, "telegram: pruning update ids", slog.Any("error", err))
	}
}

// updateKind names the update's kind for the metrics.
func updateKind(u telego.Update) string {
	switch {
	case u.Message != nil:
		return "message"
	case u.CallbackQuery != nil:
		return "callback_query"
	case u.EditedMessage != nil:
		return "edited_message"
	case u.ChannelPost != nil, u.EditedChannelPost != nil:
		return "channel_post"
	}
	return "other"
}

// relevant returns the chat of an update scar acts on: a message from a person, or a
// button press. Edits, channel posts (no sender) and bots' messages are not for scar.
func relevant(u telego.Update) (int64, bool) {
	switch {
	case u.Message != nil:
		m := u.Message
		if m.From == nil || m.From.IsBot || m.Chat.Type == telego.ChatTypeChannel {
			return 0, false
		}
		return m.Chat.ID, true
	case u.CallbackQuery != nil:
		// Every press is answered, even one under a message scar cannot see; such a
		// press is ordered with its user's private chat.
		q := u.CallbackQuery
		if chatID, _, ok := callbackMessage(q); ok {
			return chatID, true
		}
		return q.From.ID, true
	}
	return 0, false
}

// callbackMessage returns the chat and id of the message under a pressed button.
// telego decodes that message into an interface that odd input (found by fuzzing)
// can leave holding a nil pointer, so the concrete types are checked.
func callbackMessage(q *telego.CallbackQuery) (chatID int64, messageID int, ok bool) {
	switch m := q.Message.(type) {
	case *telego.Message:
		if m != nil {
			return m.Chat.ID, m.MessageID, true
		}
	case *telego.InaccessibleMessage:
		if m != nil {
			return m.Chat.ID, m.MessageID, true
		}
	}
	return 0, 0, false
}

func (b *Bot) countUpdate(kind, outcome string) {
	b.metrics.TelegramUpdates.WithLabelValues(kind, outcome).Inc()
}
