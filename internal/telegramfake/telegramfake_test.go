package telegramfake

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
)

func newBot(t *testing.T, s *Server) *telego.Bot {
	t.Helper()
	bot, err := telego.NewBot(Token, telego.WithAPIServer(s.URL), telego.WithHTTPClient(&http.Client{}), telego.WithDiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

func TestGetMeAndSendMessage(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	bot := newBot(t, s)
	me, err := bot.GetMe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.Username != BotUsername {
		t.Errorf("getMe username %q, want %q", me.Username, BotUsername)
	}
	msg, err := bot.SendMessage(ctx, &telego.SendMessageParams{ChatID: telego.ChatID{ID: 42}, Text: "<b>hi</b> &amp; bye", ParseMode: telego.ModeHTML})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Text != "hi & bye" || msg.MessageID == 0 {
		t.Errorf("sent message %+v, want rendered text and an id", msg)
	}
	calls := s.Calls("sendMessage")
	if len(calls) != 1 || calls[0].Int64("chat_id") != 42 || calls[0].String("parse_mode") != "HTML" {
		t.Errorf("recorded %s", Describe(calls))
	}
}

func TestHTMLIsCheckedLikeTelegram(t *testing.T) {
	tests := []struct {
		name, text string
		want       string
		wantErr    bool
	}{
		{name: "plain", text: "a b", want: "a b"},
		{name: "tags and entities", text: "<b>x</b> <pre>&lt;y&gt; &amp; &quot;&#39;&#x41;</pre>", want: `x <y> & "'A`},
		{name: "stray less-than", text: "a < b", wantErr: true},
		{name: "stray ampersand", text: "a & b", wantErr: true},
		{name: "stray greater-than", text: "a > b", wantErr: true},
		{name: "unknown tag", text: "<script>x</script>", wantErr: true},
		{name: "misnested", text: "<b><i>x</b></i>", wantErr: true},
		{name: "unclosed", text: "<b>x", wantErr: true},
		{name: "unknown entity", text: "&nbsp;", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Rendered(tc.text, "HTML")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Rendered(%q) error = %v, wantErr %v", tc.text, err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("Rendered(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestFailuresAreServedInOrder(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	bot := newBot(t, s)
	s.Fail("sendMessage", Failure{Status: http.StatusTooManyRequests, RetryAfter: 3}, Failure{Status: http.StatusBadGateway})
	params := &telego.SendMessageParams{ChatID: telego.ChatID{ID: 1}, Text: "x"}

	_, err := bot.SendMessage(ctx, params)
	var apiErr *ta.Error
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 429 || apiErr.Parameters == nil || apiErr.Parameters.RetryAfter != 3 {
		t.Fatalf("first call error = %v, want a 429 with retry_after 3", err)
	}
	if _, err := bot.SendMessage(ctx, params); err == nil || errors.As(err, &apiErr) {
		t.Fatalf("second call error = %v, want a transport error for the 502", err)
	}
	if _, err := bot.SendMessage(ctx, params); err != nil {
		t.Fatalf("third call: %v", err)
	}
}

func TestGetUpdatesConfirmsByOffsetAndRefusesWhileWebhookSet(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	bot := newBot(t, s)
	s.QueueUpdate(Message(5, 42, User{ID: 42}, "/help"))
	s.QueueUpdate(Message(6, 42, User{ID: 42}, "hello"))

	got, err := bot.GetUpdates(ctx, &telego.GetUpdatesParams{Timeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Message.Text != "/help" || got[0].Message.Entities[0].Type != "bot_command" {
		t.Fatalf("getUpdates = %+v, want both updates with the command entity", got)
	}
	got, err = bot.GetUpdates(ctx, &telego.GetUpdatesParams{Offset: 6, Timeout: 1})
	if err != nil || len(got) != 1 || got[0].UpdateID != 6 {
		t.Fatalf("getUpdates from offset 6 = %+v, %v; want update 6 alone", got, err)
	}
	if err := bot.SetWebhook(ctx, &telego.SetWebhookParams{URL: "https://example.test/hook"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bot.GetUpdates(ctx, &telego.GetUpdatesParams{Offset: 7}); err == nil {
		t.Fatal("getUpdates while a webhook is set succeeded; want 409")
	}
}

func TestGetWebhookInfo(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	bot := newBot(t, s)
	info, err := bot.GetWebhookInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.URL != "" || info.PendingUpdateCount != 0 || info.LastErrorMessage != "" {
		t.Errorf("fresh webhook info %+v, want empty", info)
	}
	if err := bot.SetWebhook(ctx, &telego.SetWebhookParams{URL: "https://scar.example.com/telegram/webhook"}); err != nil {
		t.Fatal(err)
	}
	s.QueueUpdate(Message(1, 42, User{ID: 42}, "/help"))
	at := time.Unix(1_800_000_000, 0)
	s.SetWebhookError(at, "Wrong response from the webhook: 502 Bad Gateway")
	info, err = bot.GetWebhookInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.URL != "https://scar.example.com/telegram/webhook" || info.PendingUpdateCount != 1 ||
		info.LastErrorMessage != "Wrong response from the webhook: 502 Bad Gateway" || info.LastErrorDate != at.Unix() {
		t.Errorf("webhook info %+v", info)
	}
}
