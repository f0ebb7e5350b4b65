package telegramfake

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf16"
)

// User is a Telegram user that sends updates in tests.
type User struct {
	ID       int64
	Username string
	IsBot    bool
}

var incomingMessageID atomic.Int64

func (u User) json() map[string]any {
	m := map[string]any{"id": u.ID, "is_bot": u.IsBot, "first_name": "User" + itoa(u.ID), "language_code": "en"}
	if u.Username != "" {
		m["username"] = u.Username
	}
	return m
}

// chatJSON returns the chat JSON object for id: private for a positive id (the user's own
// chat), a supergroup for a negative one.
func chatJSON(id int64) map[string]any {
	if id > 0 {
		return map[string]any{"id": id, "type": "private", "first_name": "User" + itoa(id)}
	}
	return map[string]any{"id": id, "type": "supergroup", "title": "ops"}
}

// Message returns the JSON of an Update carrying a text message from from in chat,
// with a bot_command entity when text starts with "/", as Telegram sends it.
func Message(updateID int, chat int64, from User, text string) []byte {
	return mustJSON(map[string]any{"update_id": updateID, "message": messageObject(chat, &from, text)})
}

// EditedMessage returns an Update whose edited_message carries text.
func EditedMessage(updateID int, chat int64, from User, text string) []byte {
	m := messageObject(chat, &from, text)
	m["edit_date"] = time.Now().Unix()
	return mustJSON(map[string]any{"update_id": updateID, "edited_message": m})
}

// ChannelPost returns an Update with a channel post: a message without "from".
func ChannelPost(updateID int, chat int64, text string) []byte {
	m := messageObject(chat, nil, text)
	m["chat"] = map[string]any{"id": chat, "type": "channel", "title": "announcements"}
	m["sender_chat"] = m["chat"]
	return mustJSON(map[string]any{"update_id": updateID, "channel_post": m})
}

// Sticker returns an Update with a sticker message (no text).
func Sticker(updateID int, chat int64, from User) []byte {
	m := messageObject(chat, &from, "")
	delete(m, "text")
	m["sticker"] = map[string]any{
		"file_id": "CAACAgIAAxkBAAE", "file_unique_id": "AgADBQAD", "type": "regular",
		"width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": "👍",
	}
	return mustJSON(map[string]any{"update_id": updateID, "message": m})
}

// Callback returns an Update with a callback query: from pressed a button carrying data
// under message messageID in chat.
func Callback(updateID int, chat int64, from User, messageID int, data string) []byte {
	msg := map[string]any{
		"message_id": messageID,
		"from":       map[string]any{"id": BotID, "is_bot": true, "first_name": "scar test", "username": BotUsername},
		"chat":       chatJSON(chat),
		"date":       time.Now().Unix(),
		"text":       "confirm?",
	}
	return mustJSON(map[string]any{"update_id": updateID, "callback_query": map[string]any{
		"id":            "cq" + itoa(int64(updateID)),
		"from":          from.json(),
		"message":       msg,
		"chat_instance": "-8123456789",
		"data":          data,
	}})
}

func messageObject(chat int64, from *User, text string) map[string]any {
	m := map[string]any{
		"message_id": incomingMessageID.Add(1),
		"chat":       chatJSON(chat),
		"date":       time.Now().Unix(),
		"text":       text,
	}
	if from != nil {
		m["from"] = from.json()
	}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		m["entities"] = []map[string]any{{"type": "bot_command", "offset": 0, "length": len(utf16.Encode([]rune(cmd)))}}
	}
	return m
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
