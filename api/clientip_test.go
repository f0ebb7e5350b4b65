package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

var timeZero time.Time

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name   string
		remote string
		xff    string
		want   string
	}{
		{"direct client, header ignored", "203.0.113.9:5555", "1.2.3.4", "203.0.113.9"},
		{"trusted proxy", "10.1.2.3:5555", "198.51.100.7", "198.51.100.7"},
		{"client-written left part ignored", "10.1.2.3:5555", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:5555", "198.51.100.7, 10.9.9.9", "198.51.100.7"},
		{"garbage header", "10.1.2.3:5555", "not-an-ip", "10.1.2.3"},
		{"ipv6 trusted", "[::1]:5555", "2001:db8::1", "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := clientIP(trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientIP(r.Context()) }))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			req.Header.Set("X-Forwarded-For", tc.xff)
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Errorf("client ip %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPanicRecovered(t *testing.T) {
	h := recoverPanics(discardLogger())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d after a panic, want 500", rec.Code)
	}
}
