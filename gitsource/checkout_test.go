package gitsource_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scar-dev/scar/gitsource"
)

// TestCheckoutBranchHead: the first Checkout makes the checkout and sets it to the
// head of the project's branch; Head then reports that commit.
func TestCheckoutBranchHead(t *testing.T) {
	r := newRemote(t)
	sha := r.commit("first version", map[string]string{"app.txt": "v1", "sub/b.txt": "b"})
	r.push("main")
	src := newSource(t)
	ctx := t.Context()

	if c, err := src.Head(ctx, "shop"); err != nil || c != nil {
		t.Fatalf("Head before any checkout = %+v, %v; want nil, nil", c, err)
	}
	c, err := src.Checkout(ctx, "shop", r.git(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := gitsource.Commit{SHA: sha, Subject: "first version", Author: "Ann Dev <ann@example.com>", Branch: "main"}
	if *c != want {
		t.Errorf("Checkout = %+v, want %+v", *c, want)
	}
	if got := readFile(t, filepath.Join(src.Dir("shop"), "app.txt")); got != "v1" {
		t.Errorf("app.txt = %q, want v1", got)
	}
	if got := readFile(t, filepath.Join(src.Dir("shop"), "sub", "b.txt")); got != "b" {
		t.Errorf("sub/b.txt = %q", got)
	}
	if h, err := src.Head(ctx, "shop"); err != nil || h == nil || *h != want {
		t.Errorf("Head = %+v, %v; want %+v", h, err, want)
	}
	if _, err := os.Stat(filepath.Join(src.Dir("shop"), ".git", "hooks")); err == nil {
		t.Error("the checkout has a hooks directory: made with git's template")
	}
}

// TestCheckoutRefs: a short and a full sha, a tag and another branch are checked out
// as named; Branch is set only when a branch named the commit.
func TestCheckoutRefs(t *testing.T) {
	r := newRemote(t)
	first := r.commit("one", map[string]string{"app.txt": "1"})
	r.push("main")
	mustGit(t, r.work, "tag", "v1.0")
	second := r.commit("two", map[string]string{"app.txt": "2"})
	r.push("main", "v1.0")
	mustGit(t, r.work, "checkout", "--quiet", "-b", "feature/x", first)
	feature := r.commit("feature", map[string]string{"app.txt": "f"})
	r.push("feature/x")
	src := newSource(t)

	tests := []struct {
		ref, sha, branch, content string
	}{
		{"", second, "main", "2"},
		{first[:7], first, "", "1"},
		{first, first, "", "1"},
		{strings.ToUpper(second), second, "", "2"},
		{"v1.0", first, "", "1"},
		{"feature/x", feature, "feature/x", "f"},
		{"main", second, "main", "2"},
	}
	for _, tc := range tests {
		t.Run("ref="+tc.ref, func(t *testing.T) {
			c, err := src.Checkout(t.Context(), "shop", r.git(), tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if c.SHA != tc.sha || c.Branch != tc.branch {
				t.Errorf("Checkout(%q) = %s on %q, want %s on %q", tc.ref, c.SHA, c.Branch, tc.sha, tc.branch)
			}
			if got := readFile(t, filepath.Join(src.Dir("shop"), "app.txt")); got != tc.content {
				t.Errorf("app.txt = %q, want %q", got, tc.content)
			}
		})
	}
}

// TestCheckoutFollowsPushAndDiscardsLocalChanges: a second Checkout after a push
// moves the checkout to the new head; a file someone left there and an edit of a
// tracked file are gone (the checkout is scar's).
func TestCheckoutFollowsPushAndDiscardsLocalChanges(t *testing.T) {
	r := newRemote(t)
	r.commit("one", map[string]string{"app.txt": "1", "gone.txt": "g"})
	r.push("main")
	src := newSource(t)
	ctx := t.Context()
	if _, err := src.Checkout(ctx, "shop", r.git(), ""); err != nil {
		t.Fatal(err)
	}
	dir := src.Dir("shop")
	for name, content := range map[string]string{"stray.txt": "left here", "app.txt": "edited", "build/out.o": "x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(r.work, "gone.txt"))
	second := r.commit("two", map[string]string{"app.txt": "2"})
	r.push("main")

	c, err := src.Checkout(ctx, "shop", r.git(), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != second || c.Subject != "two" {
		t.Errorf("Checkout after a push = %+v, want %s", c, second)
	}
	if got := readFile(t, filepath.Join(dir, "app.txt")); got != "2" {
		t.Errorf("app.txt = %q, want 2", got)
	}
	for _, name := range []string{"stray.txt", "build", "gone.txt"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still in the checkout (%v)", name, err)
		}
	}
}

// TestCheckoutUnknownRef: a branch the remote does not have, and a sha none of its
// commits has, are ErrUnknownRef naming the ref and the remote.
func TestCheckoutUnknownRef(t *testing.T) {
	r := newRemote(t)
	r.commit("one", map[string]string{"app.txt": "1"})
	r.push("main")
	src := newSource(t)
	for _, ref := range []string{"nope", "deadbeef", strings.Repeat("ab", 20)} {
		_, err := src.Checkout(t.Context(), "shop", r.git(), ref)
		if !errors.Is(err, gitsource.ErrUnknownRef) || !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), r.url()) {
			t.Errorf("Checkout(%q) = %v; want ErrUnknownRef naming %q and %s", ref, err, ref, r.url())
		}
	}
	g := r.git()
	g.Branch = "develop"
	if _, err := src.Checkout(t.Context(), "shop", g, ""); !errors.Is(err, gitsource.ErrUnknownRef) {
		t.Errorf("Checkout of a project whose branch is absent = %v; want ErrUnknownRef", err)
	}
}

// TestCheckoutForcePushedCommit: a commit a force-push removed from the remote (and
// the remote's gc collected) is ErrUnknownRef, by full and short sha, although the
// checkout had fetched it before.
func TestCheckoutForcePushedCommit(t *testing.T) {
	r := newRemote(t)
	old := r.commit("to be removed", map[string]string{"app.txt": "old"})
	r.push("main")
	src := newSource(t)
	ctx := t.Context()
	if c, err := src.Checkout(ctx, "shop", r.git(), old); err != nil || c.SHA != old {
		t.Fatalf("Checkout(%s) before the force-push = %+v, %v", old, c, err)
	}
	mustGit(t, r.work, "checkout", "--quiet", "--orphan", "rewrite")
	mustGit(t, r.work, "rm", "-rf", "--quiet", ".")
	r.commit("unrelated history", map[string]string{"other.txt": "new"})
	r.push("--force", "rewrite:main")
	mustGit(t, r.bare, "reflog", "expire", "--expire=now", "--all")
	mustGit(t, r.bare, "gc", "--quiet", "--prune=now")

	for _, ref := range []string{old, old[:8]} {
		_, err := src.Checkout(ctx, "shop", r.git(), ref)
		if !errors.Is(err, gitsource.ErrUnknownRef) || !strings.Contains(err.Error(), ref) {
			t.Errorf("Checkout(%s) after a force-push removed it = %v; want ErrUnknownRef", ref, err)
		}
	}
	if c, err := src.Checkout(ctx, "shop", r.git(), ""); err != nil || c.Subject != "unrelated history" {
		t.Errorf("Checkout of the new head = %+v, %v", c, err)
	}
}

// TestCheckoutHostileRefs: refs that git would read as an option or as revision
// syntax are refused before git runs at all, so nothing is fetched for them.
func TestCheckoutHostileRefs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "git")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := gitsource.New(gitsource.Config{Root: filepath.Join(dir, "checkouts"), Environ: os.Environ(), Git: fake})
	g := newRemote(t).git()
	for _, ref := range []string{"--upload-pack=touch /tmp/pwned", "-x", "a..b", "HEAD@{1}", "main~1", "main^", "a:b", "a b", "refs/../x", "x.lock", "/abs", "..", ".hidden"} {
		if _, err := src.Checkout(t.Context(), "shop", g, ref); !errors.Is(err, gitsource.ErrUnknownRef) {
			t.Errorf("Checkout(%q) = %v; want ErrUnknownRef", ref, err)
		}
	}
	for _, bad := range []string{"--upload-pack=x", "ext::sh -c x", ""} {
		g := g
		g.Remote = bad
		if _, err := src.Checkout(t.Context(), "shop", g, ""); err == nil {
			t.Errorf("Checkout from remote %q succeeded", bad)
		}
		if err := src.Check(t.Context(), g); err == nil {
			t.Errorf("Check of remote %q succeeded", bad)
		}
	}
	for _, project := range []string{"../x", "a/b", "..", ""} {
		if _, err := src.Checkout(t.Context(), project, g, ""); err == nil {
			t.Errorf("Checkout of project %q succeeded", project)
		}
	}
	if b, err := os.ReadFile(log); err == nil {
		t.Errorf("git ran for hostile input:\n%s", b)
	}
}
