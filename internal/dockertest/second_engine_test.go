package dockertest

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestSecondEngineIsItsOwnAndLeavesTheMainOneAsItWas runs a container on a second
// daemon, reaches it over its socket and over TLS (and is refused with another
// authority's certificates), stops and starts it with its container kept, and checks
// after its removal that the main engine still has docker0 and runs containers.
func TestSecondEngineIsItsOwnAndLeavesTheMainOneAsItWas(t *testing.T) {
	main := Client(t)
	image := BuildAppImage(t)
	networksBefore := networkNames(t, main)

	t.Run("second engine", func(t *testing.T) {
		e := StartSecondEngine(t, WithTLS())
		e.LoadImage(image)
		cli := e.Client()
		name := UniqueName(t, "second")
		id := RunContainer(t, cli, ContainerSpec{Name: name, Image: image, Labels: ComposeLabels(name, "app", 1, "")})
		WaitHealth(t, cli, id, "healthy", 30*time.Second)
		if _, err := main.ContainerInspect(context.Background(), name, client.ContainerInspectOptions{}); err == nil {
			t.Fatalf("the main engine has %s, which the second engine runs", name)
		}

		ping := func(host, certs string) error {
			opts := []client.Opt{client.WithHost(host), client.WithAPIVersionNegotiation()}
			if certs != "" {
				opts = append(opts, client.WithTLSClientConfig(filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")))
			}
			c, err := client.New(opts...)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = c.Ping(ctx, client.PingOptions{})
			return err
		}
		if err := ping(e.TLSHost, e.ClientCerts); err != nil {
			t.Fatalf("ping over TLS with the test's client certificate: %v", err)
		}
		otherServer, otherClient := t.TempDir(), t.TempDir()
		if err := MakeTLSCerts(otherServer, otherClient); err != nil {
			t.Fatal(err)
		}
		if err := ping(e.TLSHost, otherClient); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("ping over TLS with another authority's certificates: %v, want a certificate error", err)
		}
		if err := ping(e.TLSHost, ""); err == nil {
			t.Error("a plain HTTP ping of the TLS port was answered")
		}

		e.Stop()
		if err := ping(e.Host, ""); err == nil {
			t.Fatal("the stopped engine answers")
		}
		e.Start()
		if c := Inspect(t, cli, id); c.Name != "/"+name {
			t.Errorf("after a restart of the engine, %s is %q", id, c.Name)
		}
	})

	if _, err := net.InterfaceByName("docker0"); err != nil {
		t.Fatalf("the main engine's docker0 after the second engine: %v", err)
	}
	if after := networkNames(t, main); after != networksBefore {
		t.Errorf("the main engine's networks: %s before, %s after", networksBefore, after)
	}
	name := UniqueName(t, "main")
	id := RunContainer(t, main, ContainerSpec{Name: name, Image: image})
	WaitHealth(t, main, id, "healthy", 30*time.Second)
}

func networkNames(t *testing.T, cli *client.Client) string {
	t.Helper()
	res, err := cli.NetworkList(context.Background(), client.NetworkListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range res.Items {
		if n.Name == "bridge" || n.Name == "host" || n.Name == "none" {
			names = append(names, n.Name+"="+n.ID)
		}
	}
	slices.Sort(names) // the engine lists them in no fixed order
	return strings.Join(names, ",")
}
