package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/scar-dev/scar/metrics"
)

type clientIPKey struct{}

// ClientIP returns the request's client address as decided by the clientIP middleware.
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// clientIP believes X-Forwarded-For only when the direct peer is a trusted proxy, and
// then takes the rightmost address that is not itself a trusted proxy: everything left
// of it could have been written by the client.
func clientIP(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := peerAddr(r.RemoteAddr)
			if ip.IsValid() && isTrusted(ip) {
				hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
				for i := len(hops) - 1; i >= 0; i-- {
					hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
					if err != nil {
						break
					}
					ip = hop
					if !isTrusted(hop) {
						break
					}
				}
			}
			s := r.RemoteAddr
			if ip.IsValid() {
				s = ip.Unmap().String()
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, s)))
		})
	}
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a
}

// limitBody caps every request body; a larger one fails its read with *http.MaxBytesError.
func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// quietRoutes are logged at debug level only: probes and scrapes, which would
// otherwise be most of the log.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// logRequests writes one structured line per request and counts it by route pattern.
// A 5xx line carries the error the handler answered with (see writeError); a request
// whose client went away before the answer was written says client_gone.
func logRequests(logger *slog.Logger, m *metrics.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := &responseLog{ResponseWriter: w}
			next.ServeHTTP(ww, r)
			status := ww.status
			if status == 0 {
				status = http.StatusOK
			}
			route := chi.RouteContext(r.Context()).RoutePattern()
			if route == "" {
				route = "unmatched"
			}
			if m != nil {
				m.HTTPRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
			}
			level := slog.LevelInfo
			switch {
			case quietRoutes[route]:
				level = slog.LevelDebug // /readyz's 503 is for the prober, not the log
			case status >= 500:
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("request_id", middleware.GetReqID(r.Context())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int64("bytes", ww.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("client_ip", ClientIP(r.Context())),
			}
			if ww.err != nil && status >= 500 {
				attrs = append(attrs, slog.String("error", ww.err.Error()))
			}
			// The request's context ends early only when the client closed the
			// connection; a failed write says the same.
			if r.Context().Err() != nil || ww.writeErr != nil {
				attrs = append(attrs, slog.Bool("client_gone", true))
			}
			logger.LogAttrs(r.Context(), level, "http request", attrs...)
		})
	}
}

// responseLog records what a handler answered, for the request log.
type responseLog struct {
	http.ResponseWriter
	status   int
	bytes    int64
	err      error // the error the handler answered with (writeError)
	writeErr error // the first failed write: the client went away
}

func (w *responseLog) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseLog) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *responseLog) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush serves handlers that assert http.Flusher rather than use a ResponseController.
func (w *responseLog) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// noteError keeps the error an answer was made of, for the request's log line.
func noteError(w http.ResponseWriter, err error) {
	for {
		switch x := w.(type) {
		case *responseLog:
			x.err = err
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// recoverPanics turns a handler's panic into a 500 and a log line; the process lives on.
func recoverPanics(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				rec := recover()
				if rec == nil || rec == http.ErrAbortHandler {
					if rec != nil {
						panic(rec)
					}
					return
				}
				logger.Error("panic in HTTP handler",
					slog.Any("panic", rec),
					slog.String("request_id", middleware.GetReqID(r.Context())),
					slog.String("stack", string(debug.Stack())))
				writeProblem(w, http.StatusInternalServerError, "internal", "internal error")
			}()
			next.ServeHTTP(w, r)
		})
	}
}
