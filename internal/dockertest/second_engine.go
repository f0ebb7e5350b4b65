package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// A second Docker daemon on this machine, for the tests of projects on more than one
// host. Everything it has is its own, so that the main engine is left exactly as it
// was: its config file (the machine's /etc/docker/daemon.json sets data-root, which
// the second daemon must not share), data root, exec root (and so its own containerd),
// containerd namespaces, pidfile, socket, and a bridge interface made for it. It never
// runs with --bridge none (dockerd then deletes the host's docker0 and the main engine
// can no longer start containers), and it leaves iptables alone, which the main
// daemon owns: published ports go through the userland proxy, on 127.0.0.1.

// secondEngineStart bounds a start of the second daemon until it answers.
const secondEngineStart = time.Minute

// SecondEngine is a running (or stopped, see Stop) second dockerd.
type SecondEngine struct {
	tb testing.TB
	// Host is its unix socket, as DOCKER_HOST names it ("unix:///tmp/.../docker.sock").
	Host string
	// TLSHost is its TCP address with TLS, verified both ways ("tcp://127.0.0.1:port"),
	// when started WithTLS; "" otherwise.
	TLSHost string
	// ClientCerts is the directory with ca.pem, cert.pem and key.pem that a client of
	// TLSHost needs (as DOCKER_CERT_PATH); "" without TLS.
	ClientCerts string
	// ServerCerts is the directory with the daemon's own ca.pem, cert.pem and key.pem.
	ServerCerts string

	dir, bridge, name string
	args              []string
	cmd               *exec.Cmd
	exited            chan struct{}
}

// SecondEngineOption changes how StartSecondEngine starts the daemon.
type SecondEngineOption func(*secondEngineConfig)

type secondEngineConfig struct{ tls bool }

// WithTLS makes the daemon listen on 127.0.0.1 over TCP with TLS too, with a CA, a
// server certificate for 127.0.0.1 and a client certificate made for the test.
func WithTLS() SecondEngineOption { return func(c *secondEngineConfig) { c.tls = true } }

// StartSecondEngine starts a second dockerd and stops it, removes its bridge and its
// files when the test ends. It skips (or fails with SCAR_TEST_DOCKER=required) where it
// cannot run: not root, no dockerd, no ip(8).
func StartSecondEngine(tb testing.TB, opts ...SecondEngineOption) *SecondEngine {
	tb.Helper()
	var cfg secondEngineConfig
	for _, o := range opts {
		o(&cfg)
	}
	if os.Geteuid() != 0 {
		unavailable(tb, "a second Docker daemon needs root")
	}
	for _, tool := range []string{"dockerd", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(tb, "a second Docker daemon needs %s: %v", tool, err)
		}
	}
	// A short directory: a unix socket's path is limited to 107 bytes.
	dir, err := os.MkdirTemp("", "scar-d2-")
	if err != nil {
		tb.Fatal(err)
	}
	id := randomHex(tb, 4)
	e := &SecondEngine{tb: tb, dir: dir, bridge: "scar" + id, name: "scar2-" + id, Host: "unix://" + filepath.Join(dir, "docker.sock")}
	tb.Cleanup(e.remove)
	e.makeBridge()
	config := map[string]any{"storage-driver": "vfs", "log-driver": "json-file"}
	if err := writeJSON(filepath.Join(dir, "daemon.json"), config); err != nil {
		tb.Fatal(err)
	}
	e.args = []string{
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"--containerd-namespace", e.name,
		"--containerd-plugins-namespace", e.name + "-plugins",
		"--bridge", e.bridge,
		"--iptables=false", "--ip-masq=false",
		"-H", e.Host,
	}
	if cfg.tls {
		e.ServerCerts, e.ClientCerts = filepath.Join(dir, "server"), filepath.Join(dir, "client")
		if err := MakeTLSCerts(e.ServerCerts, e.ClientCerts); err != nil {
			tb.Fatal(err)
		}
		e.TLSHost = "tcp://127.0.0.1:" + strconv.Itoa(freePort(tb))
		e.args = append(e.args, "-H", e.TLSHost, "--tlsverify",
			"--tlscacert", filepath.Join(e.ServerCerts, "ca.pem"),
			"--tlscert", filepath.Join(e.ServerCerts, "cert.pem"),
			"--tlskey", filepath.Join(e.ServerCerts, "key.pem"))
	}
	e.Start()
	return e
}

// Client returns a client of the daemon's unix socket, closed when the test ends.
func (e *SecondEngine) Client() *client.Client {
	e.tb.Helper()
	cli, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		e.tb.Fatal(err)
	}
	e.tb.Cleanup(func() { cli.Close() })
	return cli
}

// Start starts the daemon (again, after Stop, with the same data) and waits until it
// answers.
func (e *SecondEngine) Start() {
	e.tb.Helper()
	if e.cmd != nil {
		e.tb.Fatal("second engine: already running")
	}
	log, err := os.OpenFile(filepath.Join(e.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		e.tb.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("dockerd", e.args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a signal meant for the test run does not reach it first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.tb.Fatalf("start a second dockerd: %v", err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(e.exited)

	cli, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		e.tb.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(secondEngineStart)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx, client.PingOptions{})
		cancel()
		if err == nil {
			return
		}
		select {
		case <-e.exited:
			e.cmd = nil
			e.tb.Fatalf("the second dockerd exited at its start: %s", e.logTail())
		default:
		}
		if time.Now().After(deadline) {
			e.tb.Fatalf("the second dockerd does not answer after %s: %v\n%s", secondEngineStart, err, e.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the daemon (SIGTERM; SIGKILL after 30 s), as a host that goes down.
// Its containers stop with it; Start brings the daemon back with them.
func (e *SecondEngine) Stop() {
	e.tb.Helper()
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.exited
	}
	e.cmd = nil
}

// LoadImage copies an image of the main engine (by tag) into this daemon: nothing can
// be pulled here.
func (e *SecondEngine) LoadImage(tag string) {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	saved, err := Client(e.tb).ImageSave(ctx, []string{tag})
	if err != nil {
		e.tb.Fatalf("save %s from the main engine: %v", tag, err)
	}
	defer saved.Close()
	cli := e.Client()
	loaded, err := cli.ImageLoad(ctx, saved, client.ImageLoadWithQuiet(true))
	if err != nil {
		e.tb.Fatalf("load %s into the second engine: %v", tag, err)
	}
	defer loaded.Close()
	if err := buildError(loaded); err != nil {
		e.tb.Fatalf("load %s into the second engine: %v", tag, err)
	}
}

// remove stops the daemon and removes what it made: its bridge and its directory.
func (e *SecondEngine) remove() {
	e.Stop()
	if out, err := exec.Command("ip", "link", "delete", e.bridge).CombinedOutput(); err != nil {
		e.tb.Errorf("remove the second engine's bridge %s: %v: %s", e.bridge, err, out)
	}
	// dockerd unmounts what it mounted when it stops; whatever is left (a mount it
	// could not undo) is detached so that the directory can go.
	for _, sub := range []string{"exec", "data"} {
		_ = exec.Command("umount", "-R", "-l", filepath.Join(e.dir, sub)).Run()
	}
	if err := os.RemoveAll(e.dir); err != nil {
		e.tb.Logf("remove the second engine's files: %v", err)
	}
}

// makeBridge makes the daemon's bridge with an address of its own, in a /24 of
// 10.213.0.0/16 that no interface of this machine uses.
func (e *SecondEngine) makeBridge() {
	e.tb.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		e.tb.Fatal(err)
	}
	used := func(n *net.IPNet) bool {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (n.Contains(ipn.IP) || ipn.Contains(n.IP)) {
				return true
			}
		}
		return false
	}
	for range 50 {
		third, err := rand.Int(rand.Reader, big.NewInt(254))
		if err != nil {
			e.tb.Fatal(err)
		}
		subnet := &net.IPNet{IP: net.IPv4(10, 213, byte(third.Int64()+1), 0), Mask: net.CIDRMask(24, 32)}
		if used(subnet) {
			continue
		}
		gateway := net.IPv4(10, 213, byte(third.Int64()+1), 1).String() + "/24"
		for _, args := range [][]string{
			{"link", "add", "name", e.bridge, "type", "bridge"},
			{"addr", "add", gateway, "dev", e.bridge},
			{"link", "set", e.bridge, "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				e.tb.Fatalf("make the second engine's bridge: ip %v: %v: %s", args, err, out)
			}
		}
		return
	}
	e.tb.Fatal("no free /24 in 10.213.0.0/16 for the second engine's bridge")
}

func (e *SecondEngine) logTail() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
