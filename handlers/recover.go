package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/mymmrac/telego"
)

// updatePanicked is the outcome of an update whose handling panicked.
const updatePanicked = "panicked"

// panicError is a panic turned into an error, so that the usual path reports it: the
// user is told, the audit log records it, and the process lives on. Locks taken
// below the panic were released as it unwound.
type panicError struct {
	value any
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("internal error (panic: %v)", e.value) }

// recovered calls fn and returns a panic in it as a *panicError.
func recovered[T any](fn func() (T, error)) (res T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			res, err = zero, &panicError{value: r, stack: string(debug.Stack())}
		}
	}()
	return fn()
}

// logPanic logs err with its stack when it is a recovered panic (a bug in scar);
// other errors are reported where they are handled.
func (b *Bot) logPanic(ctx context.Context, msg string, err error, attrs ...slog.Attr) {
	var pe *panicError
	if !errors.As(err, &pe) {
		return
	}
	attrs = append(attrs, slog.Any("error", err), slog.String("stack", pe.stack))
	b.log.LogAttrs(ctx, slog.LevelError, msg, attrs...)
}

// handleSafely is handle for the chat workers: a panic while handling one update
// costs that update only. The user is told and the attempt audited.
func (b *Bot) handleSafely(ctx context.Context, u telego.Update) (outcome string) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		outcome = updatePanicked
		err := &panicError{value: r, stack: string(debug.Stack())}
		b.logPanic(ctx, "telegram: panic while handling an update", err, slog.Int("update_id", u.UpdateID))
		b.reportPanic(ctx, u, err)
	}()
	return b.handle(ctx, u)
}

// reportPanic tells the chat of u that its command failed and audits it.
func (b *Bot) reportPanic(ctx context.Context, u telego.Update, err error) {
	var (
		chatID int64
		user   telego.User
		action = "update"
	)
	switch {
	case u.Message != nil && u.Message.From != nil:
		chatID, user = u.Message.Chat.ID, *u.Message.From
		if cmd, ok := ParseCommand(u.Message.Text); ok {
			action = strings.TrimPrefix(cmd.Name, "docker_")
		}
	case u.CallbackQuery != nil:
		user = u.CallbackQuery.From
		chatID, _, _ = callbackMessage(u.CallbackQuery)
		action = "button"
	default:
		return
	}
	b.record(ctx, actor(user, chatID), action, "", "error", clip(err.Error(), 300))
	if chatID != 0 {
		b.say(ctx, chatID, "❌ Something went wrong inside scar and this request stopped; nothing more will be done for it. "+
			"The error is in scar's log.\n"+next("/docker_status"))
	}
}
