package main

import (
	"strings"
	"testing"
)

// TestBadEnvironmentNamesEveryVariable sets several bad variables at once, of both
// kinds (ones the env library cannot parse and ones scar's own checks refuse): the
// error names every one of them, not only the first.
func TestBadEnvironmentNamesEveryVariable(t *testing.T) {
	environ := []string{
		"SCAR_CONFIRM_TTL=forever",
		"SCAR_TELEGRAM_ALLOWED_USERS=42,sam",
		"SCAR_TELEGRAM_READONLY_USERS=x",
		"SCAR_TELEGRAM_MODE=carrier-pigeon",
		"SCAR_LOG_FORMAT=xml",
		"SCAR_TRUSTED_PROXIES=10.0.0.0/99",
		"SCAR_TELEGRAM_WEBHOOK_PATH=hook",
		"SCAR_API_TOKENS=short",
	}
	_, err := loadConfig(environ)
	if err == nil {
		t.Fatal("loadConfig accepted a bad environment")
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
	// Go's struct field names are not the user's words.
	for _, field := range []string{"ConfirmTTL", "TelegramAllowedUsers"} {
		if strings.Contains(err.Error(), field) {
			t.Errorf("the error names the struct field %s:\n%v", field, err)
		}
	}
}
