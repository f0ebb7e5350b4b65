package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "index.txt")
	if err := os.WriteFile(content, []byte("from file"), 0o644); err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(dir, "sick")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		path       string
		wantStatus int
		wantBody   string
	}{
		{"healthy", nil, "/health", 200, "ok"},
		{"unhealthy by env", map[string]string{"UNHEALTHY": "1"}, "/health", 500, "unhealthy\n"},
		{"unhealthy by file", map[string]string{"UNHEALTHY_FILE": flag}, "/health", 500, "unhealthy\n"},
		{"healthy while the file is absent", map[string]string{"UNHEALTHY_FILE": flag + ".no"}, "/health", 200, "ok"},
		{"content file", map[string]string{"CONTENT_FILE": content, "VERSION": "v9"}, "/", 200, "from file"},
		{"version without a file", map[string]string{"CONTENT_FILE": content + ".no", "VERSION": "v9"}, "/", 200, "v9"},
		{"unknown path", nil, "/nope", 404, "404 page not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(newHandler(func(k string) string { return tc.env[k] }))
			defer srv.Close()
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || string(body) != tc.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestRunExitsAtStartAndWritesNoLines(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"EXIT_AT_START": "1", "LOG_LINES": "3"}
	err := run(nil, func(k string) string { return env[k] }, &out, &errOut)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 3 {
		t.Fatalf("err = %v, want exit code 3", err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "EXIT_AT_START") {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestRunRejectsABadLineCount(t *testing.T) {
	env := map[string]string{"LOG_LINES": "many"}
	if err := run(nil, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "LOG_LINES") {
		t.Fatalf("err = %v, want one naming LOG_LINES", err)
	}
}
