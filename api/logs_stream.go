package api

import (
	"bufio"
	"fmt"
	"net/http"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// DefaultMaxLogBytes caps the log text of one logs answer: 5000 lines of 16 KiB could
// otherwise be 80 MiB held and sent for one request.
const DefaultMaxLogBytes = 8 << 20

// logsBuffer is how much of a logs answer is buffered before it goes to the client.
const logsBuffer = 64 << 10

// writeLogs streams a logs answer line by line, JSON or text/plain, so that no more
// than the lines themselves and a small buffer are held. When older lines were left
// out for the byte cap, the JSON says "truncated": true, the text ends with a line
// that says so, and both carry the header X-Scar-Truncated: true.
func writeLogs(w http.ResponseWriter, r *http.Request, res *dockerops.LogsResult, maxBytes int) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if res.Truncated {
		h.Set("X-Scar-Truncated", "true")
	}
	bw := bufio.NewWriterSize(w, logsBuffer)
	if wantsText(r) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		var b []byte // one line, reused
		for _, l := range res.Lines {
			b = b[:0]
			if !l.Time.IsZero() {
				b = append(l.Time.UTC().AppendFormat(b, time.RFC3339Nano), ' ')
			}
			b = append(append(b, l.Text...), '\n')
			if _, err := bw.Write(b); err != nil {
				return // the client went away
			}
		}
		if res.Truncated {
			fmt.Fprintf(bw, "[scar: older lines left out: a logs answer holds at most %d bytes of log text]\n", maxBytes)
		}
		bw.Flush()
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	// The same bytes as encoding/json's, but without its cost per line (logs_json.go).
	b := append(make([]byte, 0, 512), `{"container":`...) // one line at a time, reused
	b = appendJSONString(b, res.Container)
	b = append(b, `,"project":`...)
	b = appendJSONString(b, res.Project)
	b = append(b, `,"lines":[`...)
	bw.Write(b)
	for i, l := range res.Lines {
		b = b[:0]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n  "...)
		b = appendLogLine(b, l)
		if _, err := bw.Write(b); err != nil {
			return // the client went away
		}
	}
	fmt.Fprintf(bw, "\n],\"truncated\":%t}\n", res.Truncated)
	bw.Flush()
}
