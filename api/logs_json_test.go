package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// hostileTexts are strings that encoding/json escapes or rewrites.
var hostileTexts = []string{
	"",
	"plain text",
	"quote \" backslash \\ slash /",
	"<script>alert('x')</script> & more",
	"\x00\x01\x07\b\t\n\v\f\r\x1b\x1f\x7f",
	"line\u2028separator\u2029paragraph",
	"invalid \xff\xfe bytes",
	"lone continuation \x80 and \xbf",
	"cut short \xe2\x82 and \xf0\x9f\x98",
	"overlong \xc0\xaf \xe0\x80\xaf",
	"surrogate \xed\xa0\x80 and past U+10FFFF \xf4\x90\x80\x80",
	"replacement char itself \ufffd",
	"multibyte é 日本 😀 \u00a0 \u2027 \u202a",
	"\u2028",
	"\xff",
}

// TestLogsJSONMatchesEncodingJSON: the hand-written encoding writes the bytes that
// encoding/json writes for the same values, for every single byte, for hostile
// strings and for random ones.
func TestLogsJSONMatchesEncodingJSON(t *testing.T) {
	check := func(t *testing.T, s string) {
		t.Helper()
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, encoding/json %s", s, got, want)
		}
	}
	t.Run("every byte", func(t *testing.T) {
		for b := range 256 {
			check(t, string([]byte{byte(b)}))
			check(t, "a"+string([]byte{byte(b)})+"z")
		}
	})
	t.Run("hostile", func(t *testing.T) {
		for _, s := range hostileTexts {
			check(t, s)
		}
	})
	t.Run("random", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		alphabet := []byte("aZ<>&\"\\\n\x00\x1f\x7f\x80\xbf\xc3\xa9\xe2\x80\xa8\xa9\xed\xf0\x9f\xff")
		for range 20_000 {
			b := make([]byte, rng.IntN(12))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			check(t, string(b))
		}
	})
	t.Run("lines", func(t *testing.T) {
		times := []time.Time{
			{},
			time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 28, 18, 0, 0, 123456789, time.UTC),
			time.Date(2026, 11, 28, 18, 0, 0, 120000000, time.UTC),
			time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
			time.Date(2026, 11, 28, 18, 0, 0, 5, time.FixedZone("", -(3*3600+30*60))),
		}
		for _, ts := range times {
			for _, s := range hostileTexts {
				l := dockerops.LogLine{Time: ts, Stream: "stderr", Text: s}
				want, err := json.Marshal(l)
				if err != nil {
					t.Fatal(err)
				}
				if got := appendLogLine(nil, l); !bytes.Equal(got, want) {
					t.Errorf("got %s, encoding/json %s", got, want)
				}
			}
		}
	})
}

// TestWriteLogsJSON: the whole JSON answer is, byte for byte, the one built from
// encoding/json's encoding of its parts, and it decodes back to the result.
func TestWriteLogsJSON(t *testing.T) {
	var lines []dockerops.LogLine
	for i, s := range hostileTexts {
		lines = append(lines, dockerops.LogLine{Time: time.Date(2026, 11, 28, 18, 0, i, i*1000, time.UTC), Stream: "stdout", Text: s})
	}
	lines = append(lines, dockerops.LogLine{Stream: "tty", Text: "no stamp"})
	results := []*dockerops.LogsResult{
		{Project: "web", Container: "web-app-1", Lines: []dockerops.LogLine{}},
		{Project: "web", Container: "web-app-1", Lines: lines},
		{Project: "<b>&\u2028", Container: "\xff\"", Lines: lines[:3], Truncated: true},
	}
	for i, res := range results {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeLogs(rec, httptest.NewRequest(http.MethodGet, "/api/v1/projects/web/logs", nil), res, DefaultMaxLogBytes)
			want := logsByEncodingJSON(t, res)
			if got := rec.Body.String(); got != want {
				t.Errorf("answer\n%s\nencoding/json's\n%s", got, want)
			}
			var back dockerops.LogsResult
			if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil || len(back.Lines) != len(res.Lines) || back.Truncated != res.Truncated {
				t.Errorf("decoding the answer: %d lines, truncated %v, %v", len(back.Lines), back.Truncated, err)
			}
		})
	}
}

// logsByEncodingJSON is the JSON logs answer as writeLogs built it with
// encoding/json: its head, each line on its own, and the tail.
func logsByEncodingJSON(t *testing.T, res *dockerops.LogsResult) string {
	t.Helper()
	var buf bytes.Buffer
	head, err := json.Marshal(map[string]string{"project": res.Project, "container": res.Container})
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(head[:len(head)-1])
	buf.WriteString(`,"lines":[`)
	for i, l := range res.Lines {
		if i > 0 {
			buf.WriteByte(',')
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("\n  ")
		buf.Write(b)
	}
	fmt.Fprintf(&buf, "\n],\"truncated\":%t}\n", res.Truncated)
	return buf.String()
}
