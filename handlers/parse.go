package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/dockerops"
)

// Command is a parsed bot command: "/docker_logs@scar_bot po 100" has Name
// "docker_logs", Mention "scar_bot" and Args ["po", "100"].
type Command struct {
	Name    string
	Mention string
	Args    []string
}

// Limits of what ParseCommand accepts, as Telegram defines commands and usernames.
const (
	maxCommandName = 32
	maxMention     = 64
	maxArgs        = 16
)

// ParseCommand parses text as a bot command. It reports false when text is not one:
// it does not start with "/", or the name or the @mention has characters Telegram
// does not allow in them. The name is lower-cased; extra arguments beyond 16 are
// dropped (no command takes more than two).
func ParseCommand(text string) (Command, bool) {
	if !strings.HasPrefix(text, "/") {
		return Command{}, false
	}
	head, rest := text[1:], ""
	// A command may be followed by a newline or any other space.
	if i := strings.IndexFunc(head, unicode.IsSpace); i >= 0 {
		head, rest = head[:i], head[i:]
	}
	name, mention, hasMention := strings.Cut(head, "@")
	if !validWord(name, maxCommandName) || (hasMention && !validWord(mention, maxMention)) {
		return Command{}, false
	}
	args := strings.Fields(rest)
	if len(args) > maxArgs {
		args = args[:maxArgs]
	}
	return Command{Name: strings.ToLower(name), Mention: mention, Args: args}, true
}

// validWord reports whether s is 1..limit letters, digits or underscores (ASCII).
func validWord(s string, limit int) bool {
	if s == "" || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ForBot reports whether the command is meant for the bot named username: it names
// no bot, or names this one (in any case).
func (c Command) ForBot(username string) bool {
	return c.Mention == "" || (username != "" && strings.EqualFold(c.Mention, username))
}

// usageError is a command used with the wrong arguments; its text is the usage line.
type usageError struct{ usage string }

func (e *usageError) Error() string { return "usage: " + e.usage }

// projectArg returns the optional single project argument of cmd ("" = default).
func projectArg(cmd Command) (string, error) {
	switch len(cmd.Args) {
	case 0:
		return "", nil
	case 1:
		return cmd.Args[0], nil
	default:
		return "", &usageError{usage: "/" + cmd.Name + " [project]"}
	}
}

// errBadLines is a line count out of range.
var errBadLines = fmt.Errorf("lines must be a number from 1 to %d", dockerops.MaxLogLines)

// logsArgs reads "/docker_logs [project] [lines]": a lone number is the line count
// for the default project (so a project cannot be named only by digits here).
func logsArgs(cmd Command) (project string, lines int, err error) {
	usage := &usageError{usage: "/docker_logs [project] [lines]"}
	switch len(cmd.Args) {
	case 0:
		return "", dockerops.DefaultLogLines, nil
	case 1:
		if n, ok := number(cmd.Args[0]); ok {
			if n < 1 || n > dockerops.MaxLogLines {
				return "", 0, errBadLines
			}
			return "", n, nil
		}
		return cmd.Args[0], dockerops.DefaultLogLines, nil
	case 2:
		n, ok := number(cmd.Args[1])
		if !ok {
			return "", 0, usage
		}
		if n < 1 || n > dockerops.MaxLogLines {
			return "", 0, errBadLines
		}
		return cmd.Args[0], n, nil
	default:
		return "", 0, usage
	}
}

// number parses a decimal integer, also one too large for int (reported as out of
// range rather than as a project name).
func number(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err == nil {
		return n, true
	}
	var numErr *strconv.NumError
	if errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange) {
		return dockerops.MaxLogLines + 1, true
	}
	return 0, false
}

// errNoUpdateID is a JSON object that is not an update.
var errNoUpdateID = errors.New("no update_id")

// DecodeUpdate decodes one update as the webhook receives it. Unknown fields are
// ignored, as Telegram adds fields over time; an object without update_id is not an
// update.
func DecodeUpdate(data []byte) (u telego.Update, err error) {
	// telego's decoders of messages run a third-party JSON parser on bytes from the
	// network; a panic in them must cost one update, not the process.
	defer func() {
		if r := recover(); r != nil {
			u, err = telego.Update{}, fmt.Errorf("telegram: decode update: panic: %v", r)
		}
	}()
	if needsCanonical(data) {
		if data, err = canonicalJSON(data); err != nil {
			return telego.Update{}, fmt.Errorf("telegram: decode update: %w", err)
		}
	}
	// One pass: the outer update_id shadows the embedded one and tells whether the
	// field was there at all.
	var wire struct {
		telego.Update
		UpdateID *int `json:"update_id"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return telego.Update{}, fmt.Errorf("telegram: decode update: %w", err)
	}
	if wire.UpdateID == nil {
		return telego.Update{}, fmt.Errorf("telegram: decode update: %w", errNoUpdateID)
	}
	u = wire.Update
	u.UpdateID = *wire.UpdateID
	return u, nil
}

// canonicalJSON re-encodes a JSON value with encoding/json, numbers kept exactly.
// telego decodes messages with a third-party JSON library that, for a lone UTF-16
// surrogate escape near the end of a string, makes a pointer past its buffer: a fatal
// error under -race's checkptr (found by the hostile-input test), and a pointer the
// garbage collector may reject. Re-encoded, the update reaches it as plain UTF-8
// without such escapes; invalid UTF-8 has become U+FFFD on the way.
func canonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return json.Marshal(v)
}

// needsCanonical reports whether data may hold what canonicalJSON guards against: a
// UTF-16 surrogate escape (\uD800 to \uDFFF, in either case; a pair, as emoji come,
// too) or bytes that are not UTF-8. Most updates hold neither and are decoded as they
// came: re-encoding costs more than decoding, a third of the webhook's work per update
// (bench/run.sh). A backslash that only looks like an escape takes the safe way.
func needsCanonical(data []byte) bool {
	if !utf8.Valid(data) {
		return true
	}
	for rest := data; ; {
		i := bytes.Index(rest, []byte(`\u`))
		if i < 0 {
			return false
		}
		rest = rest[i+2:]
		if len(rest) < 2 || (rest[0] == 'd' || rest[0] == 'D') && strings.IndexByte("89abcdefABCDEF", rest[1]) >= 0 {
			return true
		}
	}
}
