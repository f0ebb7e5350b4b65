package api

import (
	"time"
	"unicode/utf8"

	"github.com/scar-dev/scar/dockerops"
)

// The logs answer is written by hand rather than through encoding/json, which costs
// three allocations and a reflection walk per line; the bytes are the same ones
// encoding/json writes for the same values (TestLogsJSONMatchesEncodingJSON holds the
// two side by side).

// appendLogLine appends l as encoding/json encodes a dockerops.LogLine.
func appendLogLine(dst []byte, l dockerops.LogLine) []byte {
	dst = append(dst, '{')
	if !l.Time.IsZero() {
		dst = append(dst, `"time":"`...)
		dst = l.Time.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"stream":`...)
	dst = appendJSONString(dst, l.Stream)
	dst = append(dst, `,"text":`...)
	dst = appendJSONString(dst, l.Text)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as encoding/json escapes it by
// default: ", \ and the control characters; <, > and & (so that the answer is safe
// to embed in HTML); U+2028 and U+2029 (which end a line in JavaScript); and each
// byte that is not part of valid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is still to be appended as it is
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
