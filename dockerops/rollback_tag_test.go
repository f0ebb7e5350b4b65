package dockerops

import (
	"context"
	"testing"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestRollbackTagsAreValidAndDistinct (issue 12.8): project and service names that
// differ only in case, or that are not valid image name components ("-x", "x.",
// "Web_1"), get rollback tags the engine accepts and that never collide.
func TestRollbackTagsAreValidAndDistinct(t *testing.T) {
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	unique := dockertest.UniqueName(t, "tag")
	cases := []struct{ project, target string }{
		{unique + "App", "web"},
		{unique + "app", "web"},
		{unique + "app", "Web"},
		{unique + "app", "-x"},
		{unique + "app", "x."},
		{unique + "app", "x"},
		{unique + "app", "Web_1"},
		{unique + "app", "web_1"},
		{"-" + unique, "a..b"},
		{unique + ".", "a__b"},
	}
	seen := map[string]int{}
	ctx := context.Background()
	for i, c := range cases {
		tag := rollbackTag(c.project, c.target, "20260101-120000-abcd1234")
		if j, ok := seen[tag]; ok {
			t.Errorf("%+v and %+v both get %s", cases[j], c, tag)
			continue
		}
		seen[tag] = i
		if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: image, Target: tag}); err != nil {
			t.Errorf("%+v: the engine refuses %s: %v", c, tag, err)
			continue
		}
		t.Cleanup(func() { cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{}) })
	}
	// A name that is already valid keeps its form, so existing tags keep being found.
	if got, want := rollbackTag("po", "backend", "20260101-120000-abcd1234"), "scar-rollback/po/backend:20260101-120000-abcd1234"; got != want {
		t.Errorf("rollbackTag of valid names = %s, want %s", got, want)
	}
}
