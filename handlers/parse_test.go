package handlers

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text   string
		want   Command
		wantOK bool
	}{
		{"/docker_status", Command{Name: "docker_status", Args: []string{}}, true},
		{"/docker_status po", Command{Name: "docker_status", Args: []string{"po"}}, true},
		{"/docker_logs po 100", Command{Name: "docker_logs", Args: []string{"po", "100"}}, true},
		{"/docker_logs   po\t 100  ", Command{Name: "docker_logs", Args: []string{"po", "100"}}, true},
		{"/docker_logs\npo 100", Command{Name: "docker_logs", Args: []string{"po", "100"}}, true},
		{"/Docker_Status", Command{Name: "docker_status", Args: []string{}}, true},
		{"/docker_status@scar_test_bot", Command{Name: "docker_status", Mention: "scar_test_bot", Args: []string{}}, true},
		{"/docker_status@Other_Bot po", Command{Name: "docker_status", Mention: "Other_Bot", Args: []string{"po"}}, true},
		{"/start deep-link-payload", Command{Name: "start", Args: []string{"deep-link-payload"}}, true},
		{"docker_status", Command{}, false},
		{" /docker_status", Command{}, false},
		{"/", Command{}, false},
		{"/ po", Command{}, false},
		{"/docker-status", Command{}, false},
		{"/docker_status@", Command{}, false},
		{"/docker_status@bad-name", Command{}, false},
		{"/команда", Command{}, false},
		{"/" + strings.Repeat("a", 33), Command{}, false},
		{"", Command{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			got, ok := ParseCommand(tc.text)
			if ok != tc.wantOK {
				t.Fatalf("ParseCommand(%q) ok = %v, want %v", tc.text, ok, tc.wantOK)
			}
			if ok && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCommand(%q) = %#v, want %#v", tc.text, got, tc.want)
			}
		})
	}
}

func TestParseCommandCapsArguments(t *testing.T) {
	got, ok := ParseCommand("/docker_status" + strings.Repeat(" x", 1000))
	if !ok || len(got.Args) != maxArgs {
		t.Fatalf("got %d args (ok=%v), want %d", len(got.Args), ok, maxArgs)
	}
}

func TestForBot(t *testing.T) {
	tests := []struct {
		mention, username string
		want              bool
	}{
		{"", "scar_bot", true},
		{"scar_bot", "scar_bot", true},
		{"SCAR_Bot", "scar_bot", true},
		{"other_bot", "scar_bot", false},
		{"scar_bot", "", false}, // before getMe, a mention cannot be checked
	}
	for _, tc := range tests {
		if got := (Command{Name: "help", Mention: tc.mention}).ForBot(tc.username); got != tc.want {
			t.Errorf("mention %q, username %q: ForBot = %v, want %v", tc.mention, tc.username, got, tc.want)
		}
	}
}

func TestLogsArgs(t *testing.T) {
	tests := []struct {
		args        []string
		wantProject string
		wantLines   int
		wantErr     bool
	}{
		{nil, "", dockerops.DefaultLogLines, false},
		{[]string{"50"}, "", 50, false},
		{[]string{"1"}, "", 1, false},
		{[]string{"5000"}, "", 5000, false},
		{[]string{"po"}, "po", dockerops.DefaultLogLines, false},
		{[]string{"po", "100"}, "po", 100, false},
		{[]string{"0"}, "", 0, true},
		{[]string{"-5"}, "", 0, true},
		{[]string{"5001"}, "", 0, true},
		{[]string{"99999999999999999999999"}, "", 0, true},
		{[]string{"po", "many"}, "", 0, true},
		{[]string{"po", "0"}, "", 0, true},
		{[]string{"50", "po"}, "", 0, true},
		{[]string{"po", "50", "x"}, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			project, lines, err := logsArgs(Command{Name: "docker_logs", Args: tc.args})
			if (err != nil) != tc.wantErr {
				t.Fatalf("logsArgs(%q) error = %v, wantErr %v", tc.args, err, tc.wantErr)
			}
			if err == nil && (project != tc.wantProject || lines != tc.wantLines) {
				t.Errorf("logsArgs(%q) = %q, %d; want %q, %d", tc.args, project, lines, tc.wantProject, tc.wantLines)
			}
		})
	}
}

func TestDecodeUpdate(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr bool
		check   func(t *testing.T, body string)
	}{
		{name: "command", body: string(telegramfake.Message(1, 42, admin, "/docker_status po"))},
		{name: "callback", body: string(telegramfake.Callback(2, 42, admin, 10, "c:abc"))},
		{name: "channel post", body: string(telegramfake.ChannelPost(3, -100, "news"))},
		{name: "sticker", body: string(telegramfake.Sticker(4, 42, admin))},
		{name: "edited", body: string(telegramfake.EditedMessage(5, 42, admin, "/docker_status"))},
		{name: "unknown fields", body: `{"update_id":6,"brand_new_kind":{"x":1},"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private","new_field":true},"from":{"id":1,"is_bot":false,"first_name":"a"},"text":"hi","future":[1,2]}}`},
		{name: "not JSON", body: `{"update_id":`, wantErr: true},
		{name: "no update_id", body: `{"message":{"message_id":1}}`, wantErr: true},
		{name: "null", body: `null`, wantErr: true},
		{name: "array", body: `[1,2]`, wantErr: true},
		{name: "wrong type", body: `{"update_id":"7"}`, wantErr: true},
		{name: "bad forward origin", body: `{"update_id":8,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"forward_origin":{"type":"martian"}}}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeUpdate([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("DecodeUpdate error = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

// TestDecodeUpdateLoneSurrogates: a lone UTF-16 surrogate escape near the end of a
// string once made telego's JSON library compute a pointer past its buffer, a fatal
// error under -race (found by TestFaultHostileInput). Every length that crossed an
// allocation boundary is in the loop; each decodes to U+FFFD.
func TestDecodeUpdateLoneSurrogates(t *testing.T) {
	for n := range 64 {
		for _, escape := range []string{`\ud800`, `\udbff`, `\udc00`, `\ud800\u0041`} {
			body := fmt.Sprintf(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"%s%s"}}`, strings.Repeat("a", n), escape)
			u, err := DecodeUpdate([]byte(body))
			if err != nil || u.Message == nil || !strings.HasPrefix(u.Message.Text, strings.Repeat("a", n)+"\ufffd") {
				t.Fatalf("%d a's then %s: %v, %+v", n, escape, err, u.Message)
			}
		}
	}
}

// FuzzParseCommand checks that any text either is no command or parses into one that
// reads back the same way.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"/docker_status", "/docker_logs po 100", "/docker_logs 50", "/help@scar_bot",
		"/docker_status@other_bot x", "/x\ny", "yes", "/", "/a@", "/a@b@c", "/é", "/docker_logs\u00a0po",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, ok := ParseCommand(text)
		if !ok {
			return
		}
		if !validWord(cmd.Name, maxCommandName) || cmd.Name != strings.ToLower(cmd.Name) {
			t.Fatalf("ParseCommand(%q): bad name %q", text, cmd.Name)
		}
		if cmd.Mention != "" && !validWord(cmd.Mention, maxMention) {
			t.Fatalf("ParseCommand(%q): bad mention %q", text, cmd.Mention)
		}
		if len(cmd.Args) > maxArgs {
			t.Fatalf("ParseCommand(%q): %d args", text, len(cmd.Args))
		}
		for _, a := range cmd.Args {
			if a == "" || strings.IndexFunc(a, unicode.IsSpace) >= 0 {
				t.Fatalf("ParseCommand(%q): bad argument %q", text, a)
			}
		}
		again := "/" + cmd.Name
		if cmd.Mention != "" {
			again += "@" + cmd.Mention
		}
		for _, a := range cmd.Args {
			again += " " + a
		}
		cmd2, ok := ParseCommand(again)
		if !ok || !reflect.DeepEqual(cmd, cmd2) && !(len(cmd.Args) == 0 && len(cmd2.Args) == 0) {
			t.Fatalf("ParseCommand(%q) = %#v, but its rendering %q parses to %#v", text, cmd, again, cmd2)
		}
		// Argument parsing of every command must hold for whatever came in.
		logsArgs(cmd)
		projectArg(cmd)
	})
}

// FuzzDecodeUpdate checks that no body crashes the decoder and that every decoded
// update can be routed.
func FuzzDecodeUpdate(f *testing.F) {
	for _, b := range [][]byte{
		telegramfake.Message(1, 42, admin, "/docker_status"),
		telegramfake.Message(2, -100, admin, "/docker_logs@scar_test_bot po 10"),
		telegramfake.Callback(3, 42, admin, 10, "c:token"),
		telegramfake.ChannelPost(4, -100, "hello"),
		telegramfake.Sticker(5, 42, admin),
		telegramfake.EditedMessage(6, 42, admin, "x"),
		[]byte(`{"update_id":7,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"pinned_message":{"message_id":2,"date":0,"chat":{"id":1,"type":"private"}}}}`),
		[]byte(`{"update_id":8,"callback_query":{"id":"1","from":{"id":1,"is_bot":false,"first_name":"a"},"chat_instance":"1","message":{"message_id":2,"date":0,"chat":{"id":1,"type":"private"}}}}`),
		[]byte(`{"update_id":9,"message":{"forward_origin":{"type":"user","date":1,"sender_user":{"id":1,"is_bot":false,"first_name":"a"}},"message_id":1,"date":1,"chat":{"id":1,"type":"private"}}}`),
		[]byte(`{}`),
		[]byte(`null`),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := DecodeUpdate(body)
		if err != nil {
			if !errors.Is(err, errNoUpdateID) && u.UpdateID != 0 {
				t.Fatalf("failed decode returned update %d", u.UpdateID)
			}
			return
		}
		updateKind(u)
		relevant(u)
		if u.Message != nil {
			ParseCommand(u.Message.Text)
		}
	})
}
