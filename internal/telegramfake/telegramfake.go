// Package telegramfake is a fake Telegram Bot API server for tests: an httptest server
// that answers the methods scar calls, records every call with its decoded parameters,
// queues updates for getUpdates long polling, checks HTML the way Telegram does, and
// answers 429 with retry_after or 5xx when told to.
package telegramfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token is a bot token in Telegram's format, accepted by the fake.
const Token = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11x"

// The fake bot's identity, as getMe answers it.
const (
	BotID       = int64(123456)
	BotUsername = "scar_test_bot"
)

// Call is one recorded Bot API request.
type Call struct {
	Method string
	// Params holds the decoded parameters: JSON values for JSON requests, strings for
	// multipart fields.
	Params map[string]any
	// Files holds the multipart file parts by field name.
	Files map[string]File
	// Status is the HTTP status the fake answered.
	Status int
	// MessageID is the id of the message a successful sendMessage, sendDocument or
	// editMessageText answered with.
	MessageID int
	At        time.Time
}

// File is an uploaded file.
type File struct {
	Name string
	Data []byte
}

// OK reports whether the fake answered the call with success.
func (c Call) OK() bool { return c.Status == http.StatusOK }

// String returns parameter key as text: strings as they are, other values as JSON.
func (c Call) String(key string) string {
	v, ok := c.Params[key]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Int64 returns parameter key as a number, 0 when absent or not a number.
func (c Call) Int64(key string) int64 {
	n, _ := strconv.ParseInt(c.String(key), 10, 64)
	return n
}

// Has reports whether parameter key was sent.
func (c Call) Has(key string) bool {
	_, ok := c.Params[key]
	return ok
}

// Decode decodes parameter key (a JSON value, or JSON text in a multipart field) into v.
func (c Call) Decode(key string, v any) error {
	raw := c.String(key)
	if raw == "" {
		return fmt.Errorf("telegramfake: parameter %s not sent", key)
	}
	return json.Unmarshal([]byte(raw), v)
}

// Failure is a canned error answer.
type Failure struct {
	// Status is the HTTP status: 429 with RetryAfter, 5xx, or a 4xx with Description.
	Status      int
	RetryAfter  int
	Description string
	// ChatID, when not 0, makes the failure wait for a call to that chat.
	ChatID int64
}

type message struct {
	text string
}

type msgKey struct {
	chat int64
	id   int
}

// Server is the fake Bot API.
type Server struct {
	// URL is what telego.WithAPIServer takes.
	URL string
	// MaxPollWait caps how long getUpdates waits for an update, whatever timeout the
	// client asked for, so that tests shut down quickly.
	MaxPollWait time.Duration

	srv *httptest.Server

	mu       sync.Mutex
	calls    []Call
	failures map[string][]Failure
	updates  []queuedUpdate
	arrived  chan struct{} // closed and replaced when an update is queued
	nextID   int
	messages map[msgKey]*message
	webhook  string
	// webhookErr and webhookErrAt are getWebhookInfo's last_error_message and date.
	webhookErr   string
	webhookErrAt time.Time
}

type queuedUpdate struct {
	id   int
	body json.RawMessage
}

// New starts a fake Bot API, closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		MaxPollWait: 2 * time.Second,
		failures:    make(map[string][]Failure),
		arrived:     make(chan struct{}),
		nextID:      1000,
		messages:    make(map[msgKey]*message),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Fail makes the next calls of method answer with f, one call per Failure given.
func (s *Server) Fail(method string, fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], fs...)
}

// QueueUpdate adds a raw Update JSON object for getUpdates to deliver.
func (s *Server) QueueUpdate(body []byte) {
	var head struct {
		UpdateID int `json:"update_id"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		panic(fmt.Sprintf("telegramfake: queued update is not JSON: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, queuedUpdate{id: head.UpdateID, body: body})
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// PendingUpdates returns how many queued updates getUpdates has not had confirmed.
func (s *Server) PendingUpdates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// Webhook returns the URL of the last setWebhook, "" after deleteWebhook.
func (s *Server) Webhook() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhook
}

// SetWebhookError makes getWebhookInfo report msg as the last error Telegram had
// delivering to the webhook, at at.
func (s *Server) SetWebhookError(at time.Time, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookErr, s.webhookErrAt = msg, at
}

// Calls returns the recorded calls, of the given methods only when any are named.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the successful calls of the methods that put text in a chat
// (sendMessage, editMessageText, sendDocument), in order.
func (s *Server) Sent() []Call {
	var out []Call
	for _, c := range s.Calls("sendMessage", "editMessageText", "sendDocument") {
		if c.OK() {
			out = append(out, c)
		}
	}
	return out
}

// WaitFor polls until cond holds for the recorded calls, failing the test after timeout.
func (s *Server) WaitFor(tb testing.TB, timeout time.Duration, what string, cond func(calls []Call) bool) []Call {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		calls := s.Calls()
		if cond(calls) {
			return calls
		}
		if time.Now().After(deadline) {
			tb.Fatalf("telegramfake: waited %s for %s; calls:\n%s", timeout, what, Describe(calls))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitCalls waits until at least n successful calls of method were made and returns them.
func (s *Server) WaitCalls(tb testing.TB, method string, n int) []Call {
	tb.Helper()
	var got []Call
	s.WaitFor(tb, 10*time.Second, fmt.Sprintf("%d successful %s calls", n, method), func(calls []Call) bool {
		got = got[:0]
		for _, c := range calls {
			if c.Method == method && c.OK() {
				got = append(got, c)
			}
		}
		return len(got) >= n
	})
	return got
}

// Describe renders calls for a failure message.
func Describe(calls []Call) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "  %s [%d]", c.Method, c.Status)
		for _, k := range []string{"chat_id", "message_id", "text", "caption", "callback_query_id"} {
			if c.Has(k) {
				fmt.Fprintf(&b, " %s=%q", k, c.String(k))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	token, method, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
	if !ok || !strings.HasPrefix(r.URL.Path, "/bot") {
		http.NotFound(w, r)
		return
	}
	call := Call{Method: method, At: time.Now()}
	var err error
	call.Params, call.Files, err = decodeParams(r)
	if err != nil {
		s.record(call, http.StatusBadRequest)
		writeError(w, http.StatusBadRequest, "Bad Request: "+err.Error(), 0)
		return
	}
	if token != Token {
		s.record(call, http.StatusUnauthorized)
		writeError(w, http.StatusUnauthorized, "Unauthorized", 0)
		return
	}
	if f, ok := s.takeFailure(call); ok {
		s.record(call, f.Status)
		if f.Status >= 500 {
			http.Error(w, "fake outage", f.Status)
			return
		}
		desc := f.Description
		if desc == "" && f.Status == http.StatusTooManyRequests {
			desc = fmt.Sprintf("Too Many Requests: retry after %d", f.RetryAfter)
		}
		writeError(w, f.Status, desc, f.RetryAfter)
		return
	}
	if method == "getUpdates" {
		s.getUpdates(w, r, call)
		return
	}
	status, result, desc := s.answer(call)
	if m, ok := result.(map[string]any); ok {
		call.MessageID, _ = m["message_id"].(int)
	}
	s.record(call, status)
	if status != http.StatusOK {
		writeError(w, status, desc, 0)
		return
	}
	writeResult(w, result)
}

func (s *Server) record(c Call, status int) {
	c.Status = status
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *Server) takeFailure(c Call) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.failures[c.Method]
	for i, f := range fs {
		if f.ChatID == 0 || f.ChatID == c.Int64("chat_id") {
			s.failures[c.Method] = append(fs[:i:i], fs[i+1:]...)
			return f, true
		}
	}
	return Failure{}, false
}

func decodeParams(r *http.Request) (map[string]any, map[string]File, error) {
	params := map[string]any{}
	files := map[string]File{}
	mediaType, mp, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, mp["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return params, files, nil
			}
			if err != nil {
				return nil, nil, fmt.Errorf("multipart: %w", err)
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return nil, nil, fmt.Errorf("multipart: %w", err)
			}
			if part.FileName() != "" {
				files[part.FormName()] = File{Name: part.FileName(), Data: data}
				params[part.FormName()] = "attach://" + part.FileName()
				continue
			}
			params[part.FormName()] = string(data)
		}
	default:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, nil, err
		}
		if len(strings.TrimSpace(string(body))) == 0 {
			return params, files, nil
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			return nil, nil, fmt.Errorf("json: %w", err)
		}
		return params, files, nil
	}
}

func writeResult(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

func writeError(w http.ResponseWriter, status int, desc string, retryAfter int) {
	body := map[string]any{"ok": false, "error_code": status, "description": desc}
	if retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
