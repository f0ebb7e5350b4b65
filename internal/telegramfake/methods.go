package telegramfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// answer computes the reply to a method other than getUpdates: status, result, and
// the error description when status is not 200.
func (s *Server) answer(c Call) (int, any, string) {
	switch c.Method {
	case "getMe":
		return http.StatusOK, map[string]any{
			"id": BotID, "is_bot": true, "first_name": "scar test", "username": BotUsername,
			"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
		}, ""
	case "setMyCommands", "answerCallbackQuery", "sendChatAction":
		return http.StatusOK, true, ""
	case "setWebhook":
		if c.String("url") == "" {
			return http.StatusBadRequest, nil, "Bad Request: bad webhook: an HTTPS URL must be provided for webhook"
		}
		s.mu.Lock()
		s.webhook = c.String("url")
		s.mu.Unlock()
		return http.StatusOK, true, ""
	case "getWebhookInfo":
		return http.StatusOK, s.webhookInfo(), ""
	case "deleteWebhook":
		s.mu.Lock()
		s.webhook = ""
		s.mu.Unlock()
		return http.StatusOK, true, ""
	case "sendMessage":
		return s.sendMessage(c)
	case "editMessageText":
		return s.editMessageText(c)
	case "sendDocument":
		return s.sendDocument(c)
	default:
		return http.StatusNotFound, nil, "Not Found: method not found"
	}
}

func (s *Server) sendMessage(c Call) (int, any, string) {
	chat := c.Int64("chat_id")
	if chat == 0 {
		return http.StatusBadRequest, nil, "Bad Request: chat not found"
	}
	text, err := Rendered(c.String("text"), c.String("parse_mode"))
	if err != nil {
		return http.StatusBadRequest, nil, "Bad Request: can't parse entities: " + err.Error()
	}
	if n := Length(text); n == 0 || n > MaxMessageLength {
		return http.StatusBadRequest, nil, "Bad Request: message is too long"
	}
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.messages[msgKey{chat, id}] = &message{text: text}
	s.mu.Unlock()
	return http.StatusOK, messageJSON(chat, id, text), ""
}

func (s *Server) editMessageText(c Call) (int, any, string) {
	chat := c.Int64("chat_id")
	id := int(c.Int64("message_id"))
	text, err := Rendered(c.String("text"), c.String("parse_mode"))
	if err != nil {
		return http.StatusBadRequest, nil, "Bad Request: can't parse entities: " + err.Error()
	}
	if n := Length(text); n == 0 || n > MaxMessageLength {
		return http.StatusBadRequest, nil, "Bad Request: MESSAGE_TOO_LONG"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[msgKey{chat, id}]
	if !ok {
		return http.StatusBadRequest, nil, "Bad Request: message to edit not found"
	}
	// Telegram compares the text and the keyboard; a keyboard change alone is allowed.
	if m.text == text && !c.Has("reply_markup") {
		return http.StatusBadRequest, nil, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
	}
	m.text = text
	return http.StatusOK, messageJSON(chat, id, text), ""
}

func (s *Server) sendDocument(c Call) (int, any, string) {
	chat := c.Int64("chat_id")
	doc, ok := c.Files["document"]
	if chat == 0 || !ok {
		return http.StatusBadRequest, nil, "Bad Request: there is no document in the request"
	}
	caption, err := Rendered(c.String("caption"), c.String("parse_mode"))
	if err != nil {
		return http.StatusBadRequest, nil, "Bad Request: can't parse entities: " + err.Error()
	}
	if Length(caption) > MaxCaptionLength {
		return http.StatusBadRequest, nil, "Bad Request: message caption is too long"
	}
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	m := messageJSON(chat, id, "")
	delete(m, "text")
	m["caption"] = caption
	m["document"] = map[string]any{
		"file_id": "doc" + strconv.Itoa(id), "file_unique_id": "u" + strconv.Itoa(id),
		"file_name": doc.Name, "file_size": len(doc.Data),
	}
	return http.StatusOK, m, ""
}

func messageJSON(chat int64, id int, text string) map[string]any {
	chatType := "private"
	if chat < 0 {
		chatType = "supergroup"
	}
	return map[string]any{
		"message_id": id,
		"from":       map[string]any{"id": BotID, "is_bot": true, "first_name": "scar test", "username": BotUsername},
		"chat":       map[string]any{"id": chat, "type": chatType},
		"date":       time.Now().Unix(),
		"text":       text,
	}
}

// getUpdates answers with the queued updates from offset on, waiting up to the asked
// timeout (capped by MaxPollWait) when there are none. Like Telegram, it refuses while
// a webhook is set, and an offset confirms every update before it.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, c Call) {
	offset := int(c.Int64("offset"))
	limit := int(c.Int64("limit"))
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	wait := time.Duration(c.Int64("timeout")) * time.Second
	wait = min(wait, s.MaxPollWait)
	timer := time.NewTimer(wait)
	defer timer.Stop()

	for {
		s.mu.Lock()
		if s.webhook != "" {
			s.mu.Unlock()
			s.record(c, http.StatusConflict)
			writeError(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 0)
			return
		}
		if offset != 0 {
			kept := s.updates[:0]
			for _, u := range s.updates {
				if u.id >= offset {
					kept = append(kept, u)
				}
			}
			s.updates = kept
		}
		var batch []json.RawMessage
		for _, u := range s.updates {
			if len(batch) == limit {
				break
			}
			batch = append(batch, u.body)
		}
		arrived := s.arrived
		s.mu.Unlock()

		if len(batch) > 0 {
			s.record(c, http.StatusOK)
			writeResult(w, batch)
			return
		}
		select {
		case <-arrived:
		case <-timer.C:
			s.record(c, http.StatusOK)
			writeResult(w, []json.RawMessage{})
			return
		case <-r.Context().Done():
			s.record(c, http.StatusOK)
			return
		}
	}
}

// webhookInfo is getWebhookInfo's answer: the webhook set, the updates waiting and the
// last delivery error set with SetWebhookError.
func (s *Server) webhookInfo() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := map[string]any{"url": s.webhook, "has_custom_certificate": false, "pending_update_count": len(s.updates)}
	if s.webhookErr != "" {
		info["last_error_date"] = s.webhookErrAt.Unix()
		info["last_error_message"] = s.webhookErr
	}
	return info
}
