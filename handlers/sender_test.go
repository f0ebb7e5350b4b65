package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/telegramfake"
)

func TestSenderWaitsOutRetryAfter(t *testing.T) {
	h := newHarness(t)
	h.api.Fail("sendMessage", telegramfake.Failure{Status: http.StatusTooManyRequests, RetryAfter: 1, ChatID: admin.ID})
	start := time.Now()
	h.send(admin.ID, admin, "/help")
	h.waitSent(admin.ID, "Commands")
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("answer came %s after a 429 with retry_after 1; want at least 1s", waited)
	}
	calls := h.api.Calls("sendMessage")
	if len(calls) != 2 || calls[0].Status != http.StatusTooManyRequests || !calls[1].OK() {
		t.Fatalf("calls:\n%s", telegramfake.Describe(calls))
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("retried %s after the 429, want at least retry_after (1s)", gap)
	}
	if n := h.requests("sendMessage", requestRateLimited); n != 1 {
		t.Errorf("rate_limited count %v, want 1", n)
	}
	// The fake records a call before its answer reaches the sender, which counts it.
	h.api.WaitFor(t, 5*time.Second, "the success to be counted", func([]telegramfake.Call) bool {
		return h.requests("sendMessage", requestSuccess) == 1
	})
}

func TestRateLimitedChatDoesNotHoldOthersOrIntake(t *testing.T) {
	h := newHarness(t)
	h.api.Fail("sendMessage", telegramfake.Failure{Status: http.StatusTooManyRequests, RetryAfter: 2, ChatID: admin.ID})
	h.send(admin.ID, admin, "/help")
	h.api.WaitFor(t, 5*time.Second, "the 429", func(calls []telegramfake.Call) bool {
		return len(calls) > 0 && calls[len(calls)-1].Status == http.StatusTooManyRequests
	})
	// While admin's chat waits out its 2s, the webhook still answers at once and
	// another chat gets its answer.
	start := time.Now()
	h.send(admin2.ID, admin2, "/help")
	if took := time.Since(start); took > time.Second {
		t.Errorf("the webhook took %s to answer while a chat waited out a 429", took)
	}
	h.waitSent(admin2.ID, "Commands")
	if got := h.sentTo(admin.ID); len(got) != 0 {
		t.Errorf("admin's answer came before admin2's, though admin's chat was waiting out a 429")
	}
	h.waitSent(admin.ID, "Commands")
}

func TestSenderRetriesTransientErrorsAFewTimes(t *testing.T) {
	tests := []struct {
		name      string
		failures  []telegramfake.Failure
		wantSent  bool
		wantCalls int
	}{
		{"one 502", []telegramfake.Failure{{Status: http.StatusBadGateway}}, true, 2},
		{"three 5xx", []telegramfake.Failure{{Status: 500}, {Status: 502}, {Status: 503}}, true, 4},
		{"5xx past the retry bound give up", fiveHundreds(maxTransientRetries + 1), false, maxTransientRetries + 1},
		{"400 is not retried", []telegramfake.Failure{{Status: http.StatusBadRequest, Description: "Bad Request: chat not found"}}, false, 1},
		{"403 is not retried", []telegramfake.Failure{{Status: http.StatusForbidden, Description: "Forbidden: bot was blocked by the user"}}, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.bot.send.backoff = func(int) time.Duration { return time.Millisecond }
			for i := range tc.failures {
				tc.failures[i].ChatID = admin.ID
			}
			h.api.Fail("sendMessage", tc.failures...)
			h.send(admin.ID, admin, "/help")
			h.marker(admin.ID)
			var calls int
			var sent int
			for _, c := range h.api.Calls("sendMessage") {
				if c.Int64("chat_id") == admin.ID {
					calls++
					if c.OK() {
						sent++
					}
				}
			}
			// The marker's own send is one successful call.
			wantSent := 1
			if tc.wantSent {
				wantSent = 2
			}
			if calls-1 != tc.wantCalls || sent != wantSent {
				t.Errorf("%d calls (%d successful) for /help, want %d calls, sent=%v", calls-1, sent-1, tc.wantCalls, tc.wantSent)
			}
		})
	}
}

func TestSenderKeepsChatRate(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.ChatRate, c.GlobalRate = 10, 1000 })
	ctx := context.Background()
	start := time.Now()
	// A burst of chatBurst, then one per 100ms: 8 messages take at least 0.5s.
	for i := range 8 {
		if _, err := h.bot.send.sendMessage(ctx, admin.ID, "m"+strings.Repeat("!", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Errorf("8 messages to one chat at 10/s with a burst of %d took %s, want at least 0.5s", chatBurst, took)
	}
	// A group chat gets a third of the rate.
	start = time.Now()
	for range chatBurst + 2 {
		if _, err := h.bot.send.sendMessage(ctx, groupChat, "g", nil); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 550*time.Millisecond {
		t.Errorf("%d messages to a group at 10/3 per second took %s, want at least 0.6s", chatBurst+2, took)
	}
}

func TestSenderFailuresDoNotLeakTheToken(t *testing.T) {
	h := newHarness(t)
	h.bot.send.backoff = func(int) time.Duration { return time.Millisecond }
	h.api.Fail("sendMessage", fiveHundreds(maxTransientRetries+1)...)
	_, err := h.bot.send.sendMessage(context.Background(), admin.ID, "x", nil)
	if err == nil {
		t.Fatal("send succeeded through more 500s than it retries")
	}
	// The fake's 500 is a plain HTTP error; a transport error would carry the URL.
	if strings.Contains(err.Error(), telegramfake.Token) {
		t.Errorf("error shows the token: %v", err)
	}
	if got := redact("Post http://x/bot"+telegramfake.Token+"/sendMessage: refused", telegramfake.Token); strings.Contains(got, telegramfake.Token) {
		t.Errorf("redact left the token in %q", got)
	}
}

// fiveHundreds returns n failures with status 500.
func fiveHundreds(n int) []telegramfake.Failure {
	fs := make([]telegramfake.Failure, n)
	for i := range fs {
		fs[i] = telegramfake.Failure{Status: http.StatusInternalServerError}
	}
	return fs
}
