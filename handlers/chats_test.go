package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/telegramfake"
)

// TestGroupsOnlyListedChats: in a group not listed in AllowedChats
// (SCAR_TELEGRAM_ALLOWED_CHATS) scar says nothing at all, to anyone, and audits each
// command as refused; in a listed group and in allowed users' private chats it
// answers as before.
func TestGroupsOnlyListedChats(t *testing.T) {
	const unlisted = int64(-1002)
	h := newHarness(t)
	h.send(unlisted, admin, "/docker_status@"+telegramfake.BotUsername)
	h.send(unlisted, admin, "/docker_restart")
	h.send(unlisted, admin, "yes")
	h.send(unlisted, admin, "/frobnicate@"+telegramfake.BotUsername)
	h.send(unlisted, reader, "/docker_deploy")
	h.send(unlisted, stranger, "/docker_status")
	h.send(unlisted, admin, "hello all")
	id := h.press(unlisted, admin, 5, "c:sometoken")
	if got := h.answerTo(id); !strings.Contains(got, "SCAR_TELEGRAM_ALLOWED_CHATS") {
		t.Errorf("a press in an unlisted group was answered %q; want the popup naming SCAR_TELEGRAM_ALLOWED_CHATS", got)
	}
	h.api.WaitFor(t, 10*time.Second, "8 updates from the unlisted group counted unauthorized", func([]telegramfake.Call) bool {
		return h.updates("message", updateUnauthorized)+h.updates("callback_query", updateUnauthorized) == 8
	})
	// The listed group and private chats still work.
	h.send(groupChat, admin, "/docker_status@"+telegramfake.BotUsername)
	h.waitSent(groupChat, "Production Status")
	h.send(admin.ID, admin, "/docker_status")
	h.waitSent(admin.ID, "Production Status")
	if got := h.sentTo(unlisted); len(got) != 0 {
		t.Errorf("scar sent %d message(s) to a group not in AllowedChats: %q", len(got), got)
	}

	entries, err := h.db.Audit(context.Background(), "", time.Time{}, 50)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range entries {
		if e.Source == "chat:-1002" {
			if e.Outcome != "refused" || !strings.Contains(e.Detail, "SCAR_TELEGRAM_ALLOWED_CHATS") {
				t.Errorf("audit entry from the unlisted group: %+v, want refused naming SCAR_TELEGRAM_ALLOWED_CHATS", e)
			}
			refused++
		}
	}
	// Commands and the press are audited; chatter and "yes" are not commands.
	if refused != 6 {
		t.Errorf("%d refused audit entries from the unlisted group, want 6 (5 commands, the press)", refused)
	}
}
