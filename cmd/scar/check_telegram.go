package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/store"
)

// checkTelegram is the Telegram part of `scar check`: getMe, what Telegram has of the
// webhook (getWebhookInfo: its URL, the updates waiting and the last delivery error),
// and who may use the bot. It changes nothing at Telegram. It returns the number of
// failed checks; warnings do not fail the check.
func checkTelegram(ctx context.Context, cfg *config, out io.Writer) (failed int) {
	line := func(kind, name, format string, args ...any) {
		fmt.Fprintf(out, "%-5s %-13s %s\n", kind, name, fmt.Sprintf(format, args...))
	}
	if cfg.TelegramToken == "" {
		line("skip", "telegram", "SCAR_TELEGRAM_TOKEN is not set: Telegram is off")
		if len(cfg.AlertChats) > 0 {
			line("warn", "telegram alerts", alertChatsWithoutTelegram)
		}
		return 0
	}
	checkTelegramAccess(cfg, line)
	checkAlertChats(ctx, cfg, line)

	bot, err := telego.NewBot(cfg.TelegramToken, telego.WithAPIServer(cfg.TelegramAPIURL), telego.WithDiscardLogger())
	if err != nil {
		line("FAIL", "telegram", "%v", err)
		return 1
	}
	me, err := bot.GetMe(ctx)
	if err != nil {
		line("FAIL", "telegram", "getMe: %v", redact(err.Error(), cfg.TelegramToken))
		return 1
	}
	line("ok", "telegram", "bot @%s answers getMe (%s mode)", me.Username, cfg.TelegramMode)

	info, err := bot.GetWebhookInfo(ctx)
	if err != nil {
		line("FAIL", "telegram hook", "getWebhookInfo: %v", redact(err.Error(), cfg.TelegramToken))
		return 1
	}
	pending := fmt.Sprintf("pending_update_count %d", info.PendingUpdateCount)
	switch {
	case cfg.TelegramMode == "polling" && info.URL != "":
		line("ok", "telegram hook", "polling mode: Telegram has webhook %s, which scar deletes at start; %s", info.URL, pending)
	case cfg.TelegramMode == "polling":
		line("ok", "telegram hook", "polling mode, no webhook set; %s", pending)
	case info.URL == "":
		line("warn", "telegram hook", "no webhook is set at Telegram, so no update reaches scar (%s): set SCAR_TELEGRAM_WEBHOOK_URL=https://<public host>%s and restart scar, or call setWebhook with that URL and secret_token set to SCAR_TELEGRAM_WEBHOOK_SECRET",
			pending, cfg.TelegramWebhookPath)
	case cfg.TelegramWebhookURL != "" && info.URL != cfg.TelegramWebhookURL:
		line("warn", "telegram hook", "Telegram has webhook %s, SCAR_TELEGRAM_WEBHOOK_URL is %s (scar sets it at start); %s", info.URL, cfg.TelegramWebhookURL, pending)
	default:
		line("ok", "telegram hook", "webhook %s; %s", info.URL, pending)
	}
	if info.LastErrorMessage != "" {
		at := time.Unix(info.LastErrorDate, 0).UTC()
		line("warn", "telegram hook", "Telegram's last delivery to the webhook failed at %s (%s ago): last_error_message %q",
			at.Format(time.RFC3339), time.Since(at).Round(time.Second), info.LastErrorMessage)
	}
	return 0
}

// checkTelegramAccess warns when no user may use the bot: every command would be
// refused.
func checkTelegramAccess(cfg *config, line func(kind, name, format string, args ...any)) {
	full, ro := len(cfg.TelegramAllowedUsers), len(cfg.TelegramReadonlyUsers)
	if full+ro == 0 {
		line("warn", "telegram access", "SCAR_TELEGRAM_ALLOWED_USERS and SCAR_TELEGRAM_READONLY_USERS are empty: nobody can use the bot "+
			"(it tells whoever writes to it their user id, to add to SCAR_TELEGRAM_ALLOWED_USERS)")
		return
	}
	groups := "no group chats (SCAR_TELEGRAM_ALLOWED_CHATS is empty): private chats only"
	if n := len(cfg.TelegramAllowedChats); n > 0 {
		groups = fmt.Sprintf("%d group chat(s) [%s] and private chats", n, userIDs(cfg.TelegramAllowedChats))
	}
	line("ok", "telegram access", "%d full and %d read-only user(s); answers in %s", full, ro, groups)
}

// checkAlertChats says where alerts go and names the alert chats Telegram refused
// (the bot was removed from a group, the chat does not exist): the notifier stopped
// trying them, as its state store records.
func checkAlertChats(ctx context.Context, cfg *config, line func(kind, name, format string, args ...any)) {
	if len(cfg.AlertChats) == 0 {
		line("ok", "telegram alerts", "SCAR_ALERT_CHATS is empty: alerts go only to the projects' alert_chats")
	} else {
		line("ok", "telegram alerts", "alerts go to chat(s) [%s] and the projects' alert_chats", userIDs(cfg.AlertChats))
	}
	refused, err := store.RefusedAlertChatsIn(ctx, cfg.StateDir)
	if err != nil {
		line("warn", "telegram alerts", "could not read the refused alert chats: %v", err)
		return
	}
	ids := make([]int64, 0, len(refused))
	for id := range refused {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		line("warn", "telegram alerts", "Telegram refused alerts in chat %d at %s (bot removed or chat not found): add the bot back, "+
			"or remove the chat from SCAR_ALERT_CHATS / alert_chats; scar tries it again a day after the refusal", id, refused[id].UTC().Format(time.RFC3339))
	}
}

// redact removes the bot token from s: telego's errors carry request URLs, and the
// token is part of every one.
func redact(s, token string) string {
	return strings.ReplaceAll(s, token, "<bot-token>")
}
