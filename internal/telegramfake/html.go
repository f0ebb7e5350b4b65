package telegramfake

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Telegram's limits on text, counted after entity parsing.
const (
	MaxMessageLength = 4096
	MaxCaptionLength = 1024
)

// Length counts text the way Telegram does: in UTF-16 code units.
func Length(text string) int { return len(utf16.Encode([]rune(text))) }

// htmlTags are the tags Telegram's HTML parse mode accepts.
var htmlTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
	"s": true, "strike": true, "del": true, "span": true, "tg-spoiler": true,
	"a": true, "code": true, "pre": true, "blockquote": true, "tg-emoji": true,
}

// namedEntities are the only named HTML entities Telegram decodes.
var namedEntities = map[string]string{"lt": "<", "gt": ">", "amp": "&", "quot": `"`}

// Rendered returns the text a user would see: for parse mode HTML, the text with its
// tags removed and entities decoded, or the error Telegram would give for a stray
// "<", ">" or "&", an unknown tag or a tag closed out of order.
func Rendered(text, parseMode string) (string, error) {
	if !strings.EqualFold(parseMode, "HTML") {
		return text, nil
	}
	var out strings.Builder
	var open []string
	for i := 0; i < len(text); {
		switch text[i] {
		case '<':
			end := strings.IndexByte(text[i:], '>')
			if end < 0 {
				return "", fmt.Errorf("unclosed start tag at byte offset %d", i)
			}
			tag := text[i+1 : i+end]
			if err := checkTag(tag, &open); err != nil {
				return "", fmt.Errorf("%w at byte offset %d", err, i)
			}
			i += end + 1
		case '>':
			return "", fmt.Errorf("unexpected end tag at byte offset %d", i)
		case '&':
			end := strings.IndexByte(text[i:], ';')
			if end < 0 || end > 10 {
				return "", fmt.Errorf("unsupported entity at byte offset %d", i)
			}
			decoded, err := decodeEntity(text[i+1 : i+end])
			if err != nil {
				return "", fmt.Errorf("%w at byte offset %d", err, i)
			}
			out.WriteString(decoded)
			i += end + 1
		default:
			out.WriteByte(text[i])
			i++
		}
	}
	if len(open) > 0 {
		return "", fmt.Errorf("can't find end tag corresponding to start tag %q", open[len(open)-1])
	}
	return out.String(), nil
}

func checkTag(tag string, open *[]string) error {
	if name, ok := strings.CutPrefix(tag, "/"); ok {
		name = strings.ToLower(strings.TrimSpace(name))
		if len(*open) == 0 || (*open)[len(*open)-1] != name {
			return fmt.Errorf("unmatched end tag %q", name)
		}
		*open = (*open)[:len(*open)-1]
		return nil
	}
	name, attrs, _ := strings.Cut(tag, " ")
	name = strings.ToLower(name)
	if !htmlTags[name] {
		return fmt.Errorf("unsupported start tag %q", name)
	}
	if strings.ContainsAny(attrs, "<&") {
		return errors.New("bad attribute")
	}
	*open = append(*open, name)
	return nil
}

func decodeEntity(name string) (string, error) {
	if s, ok := namedEntities[name]; ok {
		return s, nil
	}
	if num, ok := strings.CutPrefix(name, "#"); ok {
		base := 10
		if hex, ok := strings.CutPrefix(strings.ToLower(num), "x"); ok {
			num, base = hex, 16
		}
		n, err := strconv.ParseInt(num, base, 32)
		if err == nil && n > 0 {
			return string(rune(n)), nil
		}
	}
	return "", fmt.Errorf("unsupported entity %q", name)
}
