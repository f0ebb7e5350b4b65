package dockertest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// ProjectImagePrefixes are the image names a test project called name owns: what
// Compose v2 and v1 name the images they build (<name>-<service>, <name>_<service>),
// what tests tag themselves (<name>-img, <name>:test), and scar's rollback tags
// (scar-rollback/<name>/<service>:<deploy>). Names from UniqueName are random, so
// no other test's image starts with these.
func ProjectImagePrefixes(name string) []string {
	return []string{name + "-", name + "_", name + ":", "scar-rollback/" + name + "/"}
}

// RemoveImagesWhenDone removes, when the test ends, every image the test made for
// the project called name: every tag starting with one of ProjectImagePrefixes(name),
// and every image that was given such a tag while the test ran, or that Compose v2
// labelled with the project, and has no tag left (a rebuild moves the tag to the new
// build and leaves the old one untagged; so does scar's rollback of a failed build).
// An image that still has other names (a shared base image a test tagged as its own)
// keeps them. It watches the engine's tag events from now on (Compose v1 and the
// Engine API send one per tag; v2's BuildKit builds send none on Engine 20.10, hence
// the label), so call it before anything is built. The untagged parent layers of a
// classic build go too. The test fails if one of them cannot be removed (a container
// still uses it), except an image that another build reused from the cache and built
// on: that one stays for its other owner, and the test log names it.
//
// Register it before the project's containers are removed (t.Cleanup runs in
// reverse): images in use cannot be removed. NewComposeProject calls it.
func RemoveImagesWhenDone(tb testing.TB, cli *client.Client, name string) {
	tb.Helper()
	prefixes := ProjectImagePrefixes(name)
	ours := func(tag string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(tag, p) {
				return true
			}
		}
		return false
	}

	// Since a moment ago: the daemon replays the events between then and the
	// subscription, so a build that starts at once is not missed.
	since := time.Now().Add(-time.Second)
	ctx, stop := context.WithCancel(context.Background())
	stream := cli.Events(ctx, client.EventsListOptions{
		Since:   strconv.FormatInt(since.Unix(), 10),
		Filters: client.Filters{}.Add("type", string(events.ImageEventType)).Add("event", string(events.ActionTag)),
	})
	var (
		mu      sync.Mutex
		tagged  = map[string]string{} // image id → a tag of ours it was given
		watchEr error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case msg := <-stream.Messages:
				if tag := msg.Actor.Attributes["name"]; ours(tag) {
					parents := untaggedParents(ctx, cli, msg.Actor.ID, ours)
					mu.Lock()
					tagged[msg.Actor.ID] = tag
					for _, p := range parents {
						if _, ok := tagged[p]; !ok {
							tagged[p] = "a parent of " + tag
						}
					}
					mu.Unlock()
				}
			case err := <-stream.Err:
				if ctx.Err() == nil {
					mu.Lock()
					watchEr = err
					mu.Unlock()
				}
				return
			}
		}
	}()

	tb.Cleanup(func() {
		stop()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		mu.Lock()
		defer mu.Unlock()
		// The last seconds again, read to the end: a tag event still on its way when
		// the watch stopped is not lost. (Tags still on the engine are found by name.)
		now := time.Now()
		tail := cli.Events(ctx, client.EventsListOptions{
			Since:   strconv.FormatInt(now.Add(-5*time.Second).Unix(), 10),
			Until:   strconv.FormatInt(now.Unix()+1, 10),
			Filters: client.Filters{}.Add("type", string(events.ImageEventType)).Add("event", string(events.ActionTag)),
		})
	replay:
		for {
			select {
			case msg := <-tail.Messages:
				if tag := msg.Actor.Attributes["name"]; ours(tag) {
					tagged[msg.Actor.ID] = tag
					for _, p := range untaggedParents(ctx, cli, msg.Actor.ID, ours) {
						if _, ok := tagged[p]; !ok {
							tagged[p] = "a parent of " + tag
						}
					}
				}
			case <-tail.Err:
				break replay
			}
		}
		if watchEr != nil {
			tb.Logf("watching the image events of %s: %v (untagged builds may be left)", name, watchEr)
		}
		list, err := cli.ImageList(ctx, client.ImageListOptions{})
		if err != nil {
			tb.Errorf("list images to remove those of %s: %v", name, err)
			return
		}
		for _, img := range list.Items {
			for _, tag := range img.RepoTags {
				if ours(tag) {
					tagged[img.ID] = tag
					// Untag first: the image may carry other tags of ours.
					// An image removed meanwhile (scar's own retention of rollback tags
					// may be at it) is what is wanted: Engine 20.10 says "unrecognized
					// image ID" for it rather than "not found".
					if _, err := cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !isNotFound(err) && !gone(ctx, cli, img.ID) {
						tb.Errorf("remove image %s of test project %s: %v", tag, name, err)
					}
				}
			}
		}
		// Compose v2 builds with BuildKit, which on Engine 20.10 sends no tag event;
		// but v2 labels the images it builds with the project.
		labelled, err := cli.ImageList(ctx, client.ImageListOptions{
			Filters: client.Filters{}.Add("label", LabelProject+"="+name),
		})
		if err != nil {
			tb.Errorf("list the images labelled with project %s: %v", name, err)
		}
		for _, img := range labelled.Items {
			if _, ok := tagged[img.ID]; !ok {
				tagged[img.ID] = LabelProject + "=" + name
			}
		}
		tb.Logf("removing the images of %s: %d tagged with its names or labelled with it", name, len(tagged))
		// Children before parents: an image whose child is still there cannot be
		// removed, so go round until a pass removes nothing more. A child left at
		// the end is not the project's (the classic builder's cache can make another
		// test's build a child of one of ours): that parent stays, and is named.
		pending := tagged
		// A stopped container of the test was once seen holding an image here and
		// gone a moment later (TestDeployPlainContainer, 1 run in 5): a conflict with
		// a container is asked again for a few seconds before it counts.
		inUseDeadline := time.Now().Add(10 * time.Second)
		for len(pending) > 0 {
			conflicts := map[string]string{}
			conflictErrs := map[string]error{}
			var failed []string
			for id, tag := range pending {
				// Only an image left with no tag at all: one of ours may have been put
				// on a shared image (a test tags the demo app image as <name>-img),
				// and that one stays with its other names.
				img, err := cli.ImageInspect(ctx, id)
				if err != nil || len(img.RepoTags) > 0 {
					continue
				}
				// PruneChildren: the untagged parent layers go too (the moby client
				// sends noprune=1 without it, and a classic build's intermediate
				// images stay).
				_, err = cli.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true})
				switch {
				case err == nil || isNotFound(err):
				case cerrdefs.IsConflict(err):
					conflicts[id], conflictErrs[id] = tag, err
				case gone(ctx, cli, id):
					// Removed by another removal meanwhile: a child removed with
					// PruneChildren takes its untagged parents, and the Engine then
					// answers a parent's removal with a 500 "unrecognized image ID".
				default:
					failed = append(failed, fmt.Sprintf("%s (once %s): %v", shortID(id), tag, err))
				}
			}
			for _, f := range failed {
				tb.Errorf("remove image %s of test project %s", f, name)
			}
			if len(conflicts) == len(pending) {
				if usedByContainer(conflictErrs) && time.Now().Before(inUseDeadline) {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				for id, tag := range conflicts {
					if strings.Contains(conflictErrs[id].Error(), "dependent child images") {
						tb.Logf("image %s (once %s) of test project %s stays: another image is built on it", shortID(id), tag, name)
					} else { // a container still uses it
						tb.Errorf("remove image %s (once %s) of test project %s: %v", shortID(id), tag, name, conflictErrs[id])
					}
				}
				break
			}
			pending = conflicts
		}
	})
}

// untaggedParents returns the parent images of id (a classic build's intermediate
// images) up to the first one that has a tag other than ours, which is shared. They
// are taken when the image is tagged: a fixture that removes its image without
// pruning (the moby client's default) leaves them untagged, with nothing left to
// find them by.
func untaggedParents(ctx context.Context, cli *client.Client, id string, ours func(string) bool) []string {
	list, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return nil // the image itself is still tracked
	}
	byID := map[string]image.Summary{}
	for _, img := range list.Items {
		byID[img.ID] = img
	}
	// An untagged image is listed as "<none>:<none>" by older engines.
	shared := func(img image.Summary) bool {
		return slices.ContainsFunc(img.RepoTags, func(t string) bool { return t != "<none>:<none>" && !ours(t) })
	}
	if shared(byID[id]) {
		return nil // a shared image given one of our names: its parents are not ours
	}
	var chain []string
	for p := byID[id].ParentID; p != ""; p = byID[p].ParentID {
		img, ok := byID[p]
		if !ok || shared(img) {
			break
		}
		chain = append(chain, p)
	}
	return chain
}

// isNotFound is true for the engine's "No such image": already gone.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// gone reports whether the Engine no longer knows image id.
func gone(ctx context.Context, cli *client.Client, id string) bool {
	_, err := cli.ImageInspect(ctx, id)
	return isNotFound(err)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// usedByContainer reports whether one of the conflicts is a container still using the
// image, rather than an image built on it.
func usedByContainer(errs map[string]error) bool {
	for _, err := range errs {
		if !strings.Contains(err.Error(), "dependent child images") {
			return true
		}
	}
	return false
}
