package dockerops

import (
	"bytes"
	"encoding/json"
	"errors"
)

// decodeLean decodes the fields of leanInspect from an inspect's JSON. Of the ~6 KB
// an engine answers, status reads the State (~1 KB with the health log) and two
// fields of HostConfig; encoding/json would still scan every byte of the rest twice
// (validation, then decoding) at ~100 MB/s. decodeLean steps over the values it does
// not need (strings by their quotes, objects and arrays by their brackets) and
// hands only the values it needs to encoding/json, so that each reads as the client
// library reads it. Keys match as encoding/json matches them: exactly, else without
// regard to case; a later duplicate wins.
//
// The values stepped over are checked for their structure, not byte for byte as
// encoding/json would (a bad escape inside a label would pass): the engine writes
// them with encoding/json. A body whose structure breaks is an error, and the lean
// inspect then asks the client, which reports it as before.
func decodeLean(data []byte, li *leanInspect) error {
	return eachField(data, func(key, value []byte) error {
		switch {
		case keyIs(key, "Id"):
			return json.Unmarshal(value, &li.ID)
		case keyIs(key, "Image"):
			return json.Unmarshal(value, &li.Image)
		case keyIs(key, "RestartCount"):
			return json.Unmarshal(value, &li.RestartCount)
		case keyIs(key, "State"):
			return json.Unmarshal(value, &li.State)
		case keyIs(key, "HostConfig"):
			if bytes.Equal(value, []byte("null")) {
				li.HostConfig = nil
				return nil
			}
			if li.HostConfig == nil {
				li.HostConfig = new(leanHostConfig)
			}
			return eachField(value, func(key, value []byte) error {
				switch {
				case keyIs(key, "RestartPolicy"):
					return json.Unmarshal(value, &li.HostConfig.RestartPolicy)
				case keyIs(key, "Memory"):
					return json.Unmarshal(value, &li.HostConfig.Memory)
				}
				return nil
			})
		}
		return nil
	})
}

// keyIs reports whether a raw object key names field as encoding/json matches it:
// exactly, or else under case folding. (eachField refuses keys with escapes.)
func keyIs(key []byte, field string) bool {
	return string(key) == field || bytes.EqualFold(key, []byte(field))
}

var errLeanSyntax = errors.New("lean inspect: not the JSON object expected")

// eachField calls fn with each key (raw, without its quotes) and value (raw) of the
// JSON object data, in order.
func eachField(data []byte, fn func(key, value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errLeanSyntax
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		if skipSpace(data, i+1) != len(data) {
			return errLeanSyntax
		}
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return errLeanSyntax
		}
		end, err := skipString(data, i)
		if err != nil {
			return err
		}
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			// encoding/json would unescape it first; leave such a body to the client.
			return errLeanSyntax
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return errLeanSyntax
		}
		start := skipSpace(data, i+1)
		end, err = skipValue(data, start, 0)
		if err != nil {
			return err
		}
		if err := fn(key, data[start:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return errLeanSyntax
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			if skipSpace(data, i+1) != len(data) {
				return errLeanSyntax
			}
			return nil
		default:
			return errLeanSyntax
		}
	}
}

// maxLeanDepth bounds the nesting skipValue follows, as encoding/json bounds its own.
const maxLeanDepth = 10000

// skipValue returns the index just after the JSON value that starts at data[i].
func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) || depth > maxLeanDepth {
		return 0, errLeanSyntax
	}
	switch c := data[i]; {
	case c == '"':
		return skipString(data, i)
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(data) || data[i] != '"' {
					return 0, errLeanSyntax
				}
				end, err := skipString(data, i)
				if err != nil {
					return 0, err
				}
				i = skipSpace(data, end)
				if i >= len(data) || data[i] != ':' {
					return 0, errLeanSyntax
				}
				i = skipSpace(data, i+1)
			}
			end, err := skipValue(data, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipSpace(data, end)
			if i >= len(data) {
				return 0, errLeanSyntax
			}
			switch data[i] {
			case ',':
				i = skipSpace(data, i+1)
			case closer:
				return i + 1, nil
			default:
				return 0, errLeanSyntax
			}
		}
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(data) && (data[j] >= '0' && data[j] <= '9' || data[j] == '.' || data[j] == 'e' || data[j] == 'E' || data[j] == '+' || data[j] == '-') {
			j++
		}
		return j, nil
	}
	return 0, errLeanSyntax
}

// skipString returns the index just after the string whose opening quote is data[i].
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '"':
			return j + 1, nil
		case '\\':
			j++ // the byte it escapes
		}
	}
	return 0, errLeanSyntax
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if !bytes.HasPrefix(data[i:], []byte(lit)) {
		return 0, errLeanSyntax
	}
	return i + len(lit), nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	return i
}
