package dockertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/image"
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

// TestComposeProjectRemovesItsImages: a project that builds its image, whose image
// is also tagged under a name of its own (which `compose down --rmi local` leaves)
// and for rollback as scar does, and is rebuilt twice (leaving the older builds
// untagged, one of them never tagged but by Compose), takes every one of those
// images, and their parent layers, with it when the test ends: a run of the tests
// must not fill the engine.
func TestComposeProjectRemovesItsImages(t *testing.T) {
	t.Parallel()
	cli := Client(t)
	base := BuildAppImage(t)
	var name string
	var built []string
	t.Run("project", func(t *testing.T) {
		ctx := t.Context()
		dir := t.TempDir()
		dockerfile := filepath.Join(dir, "Dockerfile")
		write := func(build string) {
			t.Helper()
			// Two instructions: the classic builder (Compose v1) keeps the first
			// one's image as the parent of the build.
			if err := os.WriteFile(dockerfile, []byte("FROM "+base+"\nENV BUILD="+build+"\nLABEL scar.test.build="+build+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("1")
		p := NewComposeProject(t, "rmi", fmt.Sprintf("services:\n  web:\n    build: %q\n", dir))
		name = p.Name
		webImage := func() string {
			t.Helper()
			p.Run(t, "up", "-d")
			list, err := cli.ContainerList(ctx, client.ContainerListOptions{
				Filters: client.Filters{}.Add("label", LabelProject+"="+p.Name),
			})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("containers of %s: %v, %v", p.Name, list.Items, err)
			}
			return list.Items[0].ImageID
		}
		first := webImage()
		for _, target := range []string{"scar-rollback/" + name + "/web:d1", name + "-web:custom"} {
			if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: first, Target: target}); err != nil {
				t.Fatal(err)
			}
		}
		write("2")
		p.Run(t, "build")
		second := webImage()
		if second == first {
			t.Fatal("the rebuild made no new image")
		}
		// A third build takes Compose's name from the second, which no test tag
		// names: only the tool's own trace of the build can find it.
		write("3")
		p.Run(t, "build")
		third := imageInspect(t, cli, webImageName(p.Name)).ID
		if third == second {
			t.Fatal("the third build made no new image")
		}
		built = []string{first, second, third}
		// With their parents, up to the shared base image.
		all, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		parent := map[string]string{}
		for _, img := range all.Items {
			parent[img.ID] = img.ParentID
		}
		baseID := imageInspect(t, cli, base).ID
		for _, id := range []string{first, second, third} {
			for p := parent[id]; p != "" && p != baseID; p = parent[p] {
				built = append(built, p)
			}
		}
	})
	if len(built) == 0 {
		t.Fatal("the project built nothing")
	}
	for _, id := range built {
		if _, err := cli.ImageInspect(context.Background(), id); err == nil {
			t.Errorf("image %s built by project %s is still on the engine", id, name)
		} else {
			t.Logf("removed: %s", id)
		}
	}
	list, err := cli.ImageList(context.Background(), client.ImageListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range list.Items {
		for _, tag := range img.RepoTags {
			if strings.Contains(tag, name) {
				t.Errorf("tag %s of project %s is still on the engine", tag, name)
			}
		}
	}
}

func imageInspect(t *testing.T, cli *client.Client, ref string) image.InspectResponse {
	t.Helper()
	res, err := cli.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatalf("inspect image %s: %v", ref, err)
	}
	return res.InspectResponse
}

// webImageName is the name Compose gives the image it builds for service web.
func webImageName(project string) string {
	if ComposeFlavour() == "v1" {
		return project + "_web:latest"
	}
	return project + "-web:latest"
}

// TestImagesRemovedAfterAnUnprunedRemoval: a fixture that removes its image itself,
// as the moby client does by default (noprune=1), leaves a classic build's
// intermediate images untagged; RemoveImagesWhenDone, registered first and so run
// last, takes them too.
func TestImagesRemovedAfterAnUnprunedRemoval(t *testing.T) {
	t.Parallel()
	cli := Client(t)
	base := BuildAppImage(t)
	var chain []string
	t.Run("fixture", func(t *testing.T) {
		name := UniqueName(t, "noprune")
		RemoveImagesWhenDone(t, cli, name)
		dir := t.TempDir()
		df := "FROM " + base + "\nENV STEP=1\nENV STEP=2\nLABEL scar.test.noprune=" + name + "\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		build := exec.Command("docker", "build", "-q", "-t", name+":test", dir)
		build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0") // the classic builder keeps intermediate images
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("docker build: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			if _, err := cli.ImageRemove(context.Background(), name+":test", client.ImageRemoveOptions{Force: true}); err != nil {
				t.Errorf("the fixture's own removal: %v", err)
			}
		})
		all, err := cli.ImageList(t.Context(), client.ImageListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		parent := map[string]string{}
		for _, img := range all.Items {
			parent[img.ID] = img.ParentID
		}
		baseID := imageInspect(t, cli, base).ID
		for id := imageInspect(t, cli, name+":test").ID; id != "" && id != baseID; id = parent[id] {
			chain = append(chain, id)
		}
		if len(chain) < 2 {
			t.Fatalf("the classic build made no intermediate image: %v", chain)
		}
	})
	for _, id := range chain {
		if _, err := cli.ImageInspect(context.Background(), id); err == nil {
			t.Errorf("image %s is still on the engine", id)
		}
	}
}
