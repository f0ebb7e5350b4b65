package gitsource_test

import (
	"testing"

	"github.com/scar-dev/scar/gitsource"
)

func TestSameRepository(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"git@github.com:me/app.git", "ssh://git@github.com/me/app", true},
		{"git@github.com:me/app.git", "https://github.com/me/app.git", true},
		{"https://GitHub.com/me/app/", "git://github.com/me/app", true},
		{"https://token:x-oauth@github.com/me/app", "https://github.com/me/app.git", true},
		{"ssh://git@github.com:22/me/app.git", "git@github.com:me/app", true},
		{"https://github.com:443/me/app", "http://github.com/me/app", true},
		{"ssh://git@git.example.com:2222/me/app.git", "git@git.example.com:me/app.git", false},
		{"ssh://git@git.example.com:2222/me/app.git", "ssh://git.example.com:2222/me/app", true},
		{"file:///srv/x.git", "/srv/x.git", true},
		{"file:///srv/x.git", "/srv/x", true},
		{"/srv/x/", "/srv/./x.git", true},
		{"file://localhost/srv/x", "/srv/x", true},
		{"/srv/x", "/srv/y", false},
		{"git@github.com:me/app.git", "git@github.com:me/other.git", false},
		{"git@github.com:me/app.git", "git@gitlab.com:me/app.git", false},
		{"https://github.com/me/app", "https://github.com/Me/App", false},
		{"git@github.com:me/app.git", "/me/app", false},
		{"", "", false},
		{"https://", "https://", false},
	}
	for _, tc := range tests {
		if got := gitsource.SameRepository(tc.a, tc.b); got != tc.same {
			t.Errorf("SameRepository(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
		if got := gitsource.SameRepository(tc.b, tc.a); got != tc.same {
			t.Errorf("SameRepository(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.same)
		}
	}
}
