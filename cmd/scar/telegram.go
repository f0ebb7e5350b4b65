package main

import (
	"context"
	"log/slog"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/handlers"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// newTelegram builds the bot when a token is set; nil means Telegram is off.
func newTelegram(cfg *config, ops *dockerops.Service, ps *projects.Store, db *store.DB, m *metrics.Metrics, logger *slog.Logger) (*handlers.Bot, error) {
	if cfg.TelegramToken == "" {
		return nil, nil
	}
	return handlers.New(handlers.Config{
		Token:         cfg.TelegramToken,
		APIURL:        cfg.TelegramAPIURL,
		Mode:          cfg.TelegramMode,
		WebhookSecret: cfg.TelegramWebhookSecret,
		WebhookURL:    cfg.TelegramWebhookURL,
		AllowedUsers:  cfg.TelegramAllowedUsers,
		ReadOnlyUsers: cfg.TelegramReadonlyUsers,
		ConfirmTTL:    cfg.ConfirmTTL,
	}, handlers.Deps{
		Ops:      ops,
		Deploys:  ops,
		Projects: ps,
		Updates:  handlers.GroupUpdates(db),
		Audit:    db,
		Metrics:  m,
		Logger:   logger.With(slog.String("component", "telegram")),
	})
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
