package handlers

import (
	"context"
	"fmt"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/mymmrac/telego"
)

const (
	// messageLimit is Telegram's 4096 characters, counted after entity parsing.
	messageLimit = 4096
	// maxMessages is how many messages a reply may take before it goes as a document.
	maxMessages = 3
	// hardMaxMessages caps a reply that has no document form.
	hardMaxMessages = 8
)

// line is one line of a reply: HTML whose tags open and close within it, or raw
// text shown preformatted (escaped when rendered).
type line struct {
	text string
	pre  bool
}

// reply is a message built line by line, split at line boundaries when long.
type reply struct {
	lines  []line
	markup *telego.InlineKeyboardMarkup
	// doc, when set, is sent instead of a reply longer than maxMessages messages.
	doc *document
}

// document is a reply's form as a file.
type document struct {
	name    string
	data    []byte
	caption string
}

// add appends an HTML line built with format; every argument must already be
// escaped (see esc).
func (r *reply) add(format string, args ...any) {
	r.lines = append(r.lines, line{text: fmt.Sprintf(format, args...)})
}

// blank appends an empty line.
func (r *reply) blank() { r.lines = append(r.lines, line{}) }

// addPre appends raw lines shown preformatted.
func (r *reply) addPre(raw ...string) {
	for _, s := range raw {
		r.lines = append(r.lines, line{text: s, pre: true})
	}
}

// html returns the reply as one text, however long.
func (r *reply) html() string { return render(r.lines) }

// esc escapes a dynamic string for HTML parse mode.
func esc(s string) string { return html.EscapeString(s) }

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// textLen counts s in UTF-16 code units, as Telegram counts message length.
func textLen(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// chunks splits the reply into messages of at most limit characters as Telegram
// counts them (after entity parsing: tags count nothing, an entity one character) at
// line boundaries. A preformatted run cut between two messages is closed and
// reopened; a single line too long for one message is cut into pieces.
func (r *reply) chunks(limit int) []string {
	var out []string
	var cur []line
	size := 0
	for _, l := range r.expand(limit) {
		cost := visibleLen(l) + 1
		if len(cur) > 0 && size+cost > limit {
			out = append(out, render(cur))
			cur, size = nil, 0
		}
		cur = append(cur, l)
		size += cost
	}
	if len(cur) > 0 {
		out = append(out, render(cur))
	}
	return out
}

// expand cuts lines longer than fits in one message.
func (r *reply) expand(limit int) []line {
	room := limit - 1
	var out []line
	for _, l := range r.lines {
		if visibleLen(l) <= room {
			out = append(out, l)
			continue
		}
		if !l.pre {
			// Formatters keep HTML lines short; should one not be, it is shown
			// preformatted rather than cut inside a tag.
			l = line{text: l.text, pre: true}
		}
		var piece strings.Builder
		n := 0
		for _, c := range l.text {
			w := textLen(string(c))
			if n+w > room {
				out = append(out, line{text: piece.String(), pre: true})
				piece.Reset()
				n = 0
			}
			piece.WriteRune(c)
			n += w
		}
		out = append(out, line{text: piece.String(), pre: true})
	}
	return out
}

// visibleLen is a line's length as Telegram counts it.
func visibleLen(l line) int {
	if l.pre {
		return textLen(l.text)
	}
	n := 0
	for i := 0; i < len(l.text); {
		switch l.text[i] {
		case '<':
			end := strings.IndexByte(l.text[i:], '>')
			if end < 0 {
				return n + textLen(l.text[i:])
			}
			i += end + 1
		case '&':
			end := strings.IndexByte(l.text[i:], ';')
			if end < 0 {
				return n + textLen(l.text[i:])
			}
			n++
			i += end + 1
		default:
			c, size := utf8.DecodeRuneInString(l.text[i:])
			n++
			if c > 0xFFFF {
				n++
			}
			i += size
		}
	}
	return n
}

func renderLine(l line) string {
	if l.pre {
		return esc(l.text)
	}
	return l.text
}

// render joins lines with newlines, wrapping each preformatted run in <pre>.
func render(lines []line) string {
	var b strings.Builder
	for i, l := range lines {
		if l.pre && (i == 0 || !lines[i-1].pre) {
			b.WriteString("<pre>")
		}
		b.WriteString(renderLine(l))
		if l.pre && (i == len(lines)-1 || !lines[i+1].pre) {
			b.WriteString("</pre>")
		}
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// sendReply sends r to chat: as one or a few messages, or as its document when it
// would take more than maxMessages. It returns the id of the last message sent.
func (b *Bot) sendReply(ctx context.Context, chatID int64, r *reply) (int, error) {
	chunks := r.chunks(messageLimit)
	if len(chunks) > maxMessages && r.doc != nil {
		return 0, b.send.sendDocument(ctx, chatID, r.doc.name, r.doc.data, r.doc.caption)
	}
	if len(chunks) > hardMaxMessages {
		chunks = append(chunks[:hardMaxMessages-1], "… (cut: too long for Telegram)")
	}
	var id int
	for i, c := range chunks {
		var markup *telego.InlineKeyboardMarkup
		if i == len(chunks)-1 {
			markup = r.markup
		}
		var err error
		if id, err = b.send.sendMessage(ctx, chatID, c, markup); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// say sends a short HTML text.
func (b *Bot) say(ctx context.Context, chatID int64, html string) {
	b.sendReply(ctx, chatID, &reply{lines: []line{{text: html}}})
}
