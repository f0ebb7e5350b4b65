package handlers

import (
	"errors"
	"reflect"
	"testing"
)

func TestNeedsCanonical(t *testing.T) {
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"plain ASCII", `{"update_id":1,"message":{"text":"/docker_status"}}`, false},
		{"UTF-8 as it is", `{"update_id":1,"message":{"text":"Привет ✓"}}`, false},
		{"escape outside the surrogates", `{"text":"\u041f\u0440 \u00e9 \uFFFD"}`, false},
		{"lone high surrogate", `{"text":"a\ud800"}`, true},
		{"lone low surrogate, upper case", `{"text":"a\uDC00"}`, true},
		{"a pair, as emoji come", `{"text":"\ud83d\ude00"}`, true},
		{"cut escape at the end", `{"text":"a\u`, true},
		{"cut escape, one digit", `{"text":"a\ud`, true},
		{"an escaped backslash before ud800 takes the safe way", `{"text":"\\ud800"}`, true},
		{"not UTF-8", "{\"text\":\"a\xff\"}", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsCanonical([]byte(tc.data)); got != tc.want {
				t.Errorf("needsCanonical(%q) = %v, want %v", tc.data, got, tc.want)
			}
		})
	}
}

// TestDecodeUpdateFastPathSameResult: an update decoded as it came equals the same
// update decoded after re-encoding.
func TestDecodeUpdateFastPathSameResult(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"command", `{"update_id":7,"message":{"message_id":3,"date":1767225600,"chat":{"id":42,"type":"private","first_name":"Sam"},"from":{"id":42,"is_bot":false,"first_name":"Sam","language_code":"en"},"text":"/docker_logs po 100","entities":[{"offset":0,"length":12,"type":"bot_command"}]}}`},
		{"escapes and UTF-8", `{"update_id":8,"message":{"message_id":4,"date":1,"chat":{"id":-1001,"type":"supergroup","title":"\u041f\u0440\u043e\u0434 ✓"},"from":{"id":7,"is_bot":false,"first_name":"Zoë"},"text":"yes \u00e9"}}`},
		{"button press", `{"update_id":9,"callback_query":{"id":"cq9","from":{"id":42,"is_bot":false,"first_name":"Sam"},"chat_instance":"1","data":"confirm:abc","message":{"message_id":77,"date":1,"chat":{"id":42,"type":"private"},"text":"Deploy?"}}}`},
		{"big numbers kept", `{"update_id":9007199254740993,"message":{"message_id":1,"date":1,"chat":{"id":-1009007199254740993,"type":"channel"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if needsCanonical([]byte(tc.data)) {
				t.Fatal("this case must take the fast path")
			}
			fast, err := DecodeUpdate([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			canon, err := canonicalJSON([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			slow, err := DecodeUpdate(canon)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Errorf("decoded as it came:\n%+v\nre-encoded first:\n%+v", fast, slow)
			}
		})
	}
}

func TestDecodeUpdateNeedsItsID(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		wantID int
		noID   bool
	}{
		{"id zero is an id", `{"update_id":0}`, 0, false},
		{"id", `{"update_id":12,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"}}}`, 12, false},
		{"no id", `{"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"}}}`, 0, true},
		{"null id", `{"update_id":null}`, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := DecodeUpdate([]byte(tc.data))
			if tc.noID {
				if !errors.Is(err, errNoUpdateID) {
					t.Fatalf("error %v, want %v", err, errNoUpdateID)
				}
				return
			}
			if err != nil || u.UpdateID != tc.wantID {
				t.Fatalf("got id %d, %v; want %d", u.UpdateID, err, tc.wantID)
			}
		})
	}
}
