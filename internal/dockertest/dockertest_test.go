package dockertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

func TestAppImageBecomesHealthy(t *testing.T) {
	t.Parallel()
	cli := Client(t)
	image := BuildAppImage(t)
	name := UniqueName(t, "fixture")
	id := RunContainer(t, cli, ContainerSpec{Name: name, Image: image, Labels: ComposeLabels(name, "app", 1, "")})
	WaitHealth(t, cli, id, "healthy", 20*time.Second)
}

func TestComposeProjectUpAndDown(t *testing.T) {
	t.Parallel()
	cli := Client(t)
	image := BuildAppImage(t)
	p := NewComposeProject(t, "fixture", "services:\n  web:\n    image: "+image+"\n")
	list, err := cli.ContainerList(t.Context(), client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", LabelProject+"="+p.Name),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("containers of %s: got %d, want 1", p.Name, len(list.Items))
	}
	c := list.Items[0]
	want := map[string]string{"v1": V1Name(p.Name, "web", 1), "v2": V2Name(p.Name, "web", 1)}[ComposeFlavour()]
	if got := strings.TrimPrefix(c.Names[0], "/"); got != want {
		t.Errorf("container name = %q, want %q", got, want)
	}
	if c.Labels[LabelService] != "web" {
		t.Errorf("service label = %q, want web", c.Labels[LabelService])
	}
	p.Run(t, "stop", "-t", "1")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{}); err != nil {
		t.Fatalf("inspect after stop: %v", err)
	}
}

func TestUniqueNameIsShortLowercaseAndFlavoured(t *testing.T) {
	a, b := UniqueName(t, "Status_Test"), UniqueName(t, "Status_Test")
	if a == b {
		t.Fatalf("two names are equal: %s", a)
	}
	if a != strings.ToLower(a) || len(a) > 24 || !strings.Contains(a, ComposeFlavour()) {
		t.Errorf("name %q: want lowercase, at most 24 characters, containing %q", a, ComposeFlavour())
	}
}
