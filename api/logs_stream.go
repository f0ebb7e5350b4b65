package api

import (
	"bufio"
	"encoding/json"
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
		for _, l := range res.Lines {
			if !l.Time.IsZero() {
				bw.WriteString(l.Time.UTC().Format(time.RFC3339Nano))
				bw.WriteByte(' ')
			}
			bw.WriteString(l.Text)
			if _, err := bw.WriteString("\n"); err != nil {
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
	head, _ := json.Marshal(map[string]string{"project": res.Project, "container": res.Container})
	bw.Write(head[:len(head)-1]) // {"container":...,"project":...
	bw.WriteString(`,"lines":[`)
	for i, l := range res.Lines {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, _ := json.Marshal(l) // a LogLine always encodes
		bw.WriteString("\n  ")
		if _, err := bw.Write(b); err != nil {
			return // the client went away
		}
	}
	bw.WriteString("\n],")
	fmt.Fprintf(bw, `"truncated":%t}`+"\n", res.Truncated)
	bw.Flush()
}
