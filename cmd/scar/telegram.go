package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/handlers"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// newTelegram builds the bot when a token is set; nil means Telegram is off.
func newTelegram(cfg *config, ops *dockerops.Service, ps *projects.Store, db *store.DB, m *metrics.Metrics, logger *slog.Logger) (*handlers.Bot, error) {
	if cfg.TelegramToken == "" {
		if len(cfg.AlertChats) > 0 {
			logger.Warn(alertChatsWithoutTelegram)
		}
		return nil, nil
	}
	warnTelegramSetup(cfg, logger)
	return handlers.New(handlers.Config{
		Token:         cfg.TelegramToken,
		APIURL:        cfg.TelegramAPIURL,
		Mode:          cfg.TelegramMode,
		WebhookSecret: cfg.TelegramWebhookSecret,
		WebhookURL:    cfg.TelegramWebhookURL,
		AllowedUsers:  cfg.TelegramAllowedUsers,
		ReadOnlyUsers: cfg.TelegramReadonlyUsers,
		AllowedChats:  cfg.TelegramAllowedChats,
		ConfirmTTL:    cfg.ConfirmTTL,
		AlertChats:    cfg.AlertChats,
		AlertMaxAge:   cfg.AlertMaxAge,
	}, handlers.Deps{
		Ops:      ops,
		Deploys:  ops,
		Projects: ps,
		Updates:  handlers.GroupUpdates(db),
		Audit:    db,
		Metrics:  m,
		Logger:   logger.With(slog.String("component", "telegram")),
		Alerts:   db,
		Follower: ops,
	})
}

// incidentFeed is where incidents are published as they change: the event watcher's
// Subscribe.
type incidentFeed func(project string) (<-chan dockerops.WatchEvent, func())

// startAlertPokes runs pokeAlertsOnIncidents until the returned stop is called or
// ctx ends; stop waits for it.
func startAlertPokes(ctx context.Context, subscribe incidentFeed, poke func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pokeAlertsOnIncidents(ctx, subscribe, poke)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// pokeAlertsOnIncidents wakes the bot's alert notifier for every incident the feed
// publishes, until ctx ends; it returns when it has stopped. The notifier also sweeps
// the store every few seconds, so a subscription dropped for falling behind loses no
// alert: it is taken again at once.
func pokeAlertsOnIncidents(ctx context.Context, subscribe incidentFeed, poke func()) {
	for ctx.Err() == nil {
		events, cancel := subscribe("")
		func() {
			defer cancel()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-events:
					if !ok {
						return
					}
					if ev.Incident != nil {
						poke()
					}
				}
			}
		}()
	}
}

// startTelegram introduces the bot to the Bot API and, in polling mode, polls until
// ctx ends. A Bot API that does not answer at start is logged, not fatal: scar's REST
// side keeps working and the bot answers once Telegram is reachable.
func startTelegram(ctx context.Context, bot *handlers.Bot, mode string, logger *slog.Logger) {
	if err := bot.Start(ctx); err != nil {
		logger.Error("telegram start", slog.Any("error", err))
	}
	if mode != handlers.ModePolling {
		return
	}
	if err := bot.RunPolling(ctx); err != nil && ctx.Err() == nil {
		logger.Error("telegram polling stopped", slog.Any("error", err))
	}
}

// warnTelegramSetup says at start what would otherwise fail silently: a webhook that
// scar does not register, and a bot that nobody may use.
// alertChatsWithoutTelegram is what serve logs and check warns when alert chats are
// set but Telegram is off.
const alertChatsWithoutTelegram = "SCAR_ALERT_CHATS is set but SCAR_TELEGRAM_TOKEN is not: Telegram is off and no alert is sent " +
	"(incidents are still recorded: GET /api/v1/alerts, GET /api/v1/events)"

func warnTelegramSetup(cfg *config, logger *slog.Logger) {
	if cfg.TelegramMode == handlers.ModeWebhook && cfg.TelegramWebhookURL == "" {
		logger.Warn("SCAR_TELEGRAM_WEBHOOK_URL is not set: scar does not call setWebhook, so Telegram delivers updates only if "+
			"the webhook was set by other means. Set SCAR_TELEGRAM_WEBHOOK_URL to https://<public host>"+cfg.TelegramWebhookPath+
			" and restart, or call setWebhook with that URL and secret_token set to SCAR_TELEGRAM_WEBHOOK_SECRET; "+
			"`scar check` shows the webhook Telegram has, its last error and the updates waiting",
			slog.String("webhook_path", cfg.TelegramWebhookPath))
	}
	if len(cfg.TelegramAllowedUsers)+len(cfg.TelegramReadonlyUsers) == 0 {
		logger.Warn("SCAR_TELEGRAM_ALLOWED_USERS and SCAR_TELEGRAM_READONLY_USERS are empty: nobody can use the bot; " +
			"it tells whoever writes to it their user id, to add to SCAR_TELEGRAM_ALLOWED_USERS")
	}
}
