package dockerops

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Status and stats inspect every container of a project and read a handful of
// fields of each answer: the state (with health), the restart count, the image id
// and the restart policy and memory limit that condition() weighs. The client
// library decodes all of an inspect's ~6 KB (config, mounts, networks, labels: 177
// allocations) and keeps a raw copy besides, which was 40% of a status's CPU. A lean
// inspect GETs the same resource and decodes only those fields.
//
// The lean GET goes where the client goes, the way it goes: it dials through the
// client's own Dialer (its address, TLS and scar's dial timeout), asks for the API
// version the client negotiated, under the client's base path, with scar's
// User-Agent. The client keeps its HTTP client private (WithHTTPClient clones the
// transport given to it), so the lean GETs have their own pool of keep-alive
// connections beside the client's. Anything other than a 200 with a body that
// decodes — a transport error, a 404 for a container removed since the list, a 500,
// a version the engine refuses, a body that is not JSON — is asked again through
// the client, so that what status reports and how engine errors map (engineError,
// isNotFound) are the client's, as before.

// leanInspector makes lean inspects for one engine client.
type leanInspector struct {
	cli       *client.Client
	http      *http.Client
	transport *http.Transport
	// base is scheme, host and base path of the engine's URL; the version follows.
	base string
}

// newLeanInspector returns a lean inspector for docker when it is the client
// library's client on a unix or tcp host (NewClient's), else nil: inspects then go
// through the client alone.
func newLeanInspector(docker Engine) *leanInspector {
	cli, ok := docker.(*client.Client)
	if !ok || cli == nil {
		return nil
	}
	u, err := client.ParseHostURL(cli.DaemonHost())
	if err != nil {
		return nil
	}
	host := u.Host
	switch u.Scheme {
	case "unix":
		host = client.DummyHost
	case "tcp":
	default:
		return nil
	}
	dial := cli.Dialer()
	// HTTP/1 only, as the engine speaks; TLS, where the client uses it, is inside the
	// connection its Dialer returns, so the requests themselves are plain http.
	var http1 http.Protocols
	http1.SetHTTP1(true)
	tr := &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		MaxIdleConns:        maxConcurrentInspects,
		MaxIdleConnsPerHost: maxConcurrentInspects,
		IdleConnTimeout:     30 * time.Second,
		Protocols:           &http1,
	}
	return &leanInspector{
		cli:       cli,
		http:      &http.Client{Transport: tr, CheckRedirect: client.CheckRedirect},
		transport: tr,
		base:      "http://" + host + u.Path,
	}
}

// close drops the lean inspects' idle connections.
func (l *leanInspector) close() {
	if l != nil {
		l.transport.CloseIdleConnections()
	}
}

// leanInspect is the part of an inspect that status and stats read; decoded with
// the client library's own types, so that each field reads as the client had it.
type leanInspect struct {
	ID           string `json:"Id"`
	Image        string
	RestartCount int
	State        *container.State
	HostConfig   *leanHostConfig
}

// leanHostConfig is the part of HostConfig that condition() weighs.
type leanHostConfig struct {
	RestartPolicy container.RestartPolicy
	Memory        int64
}

// response is the inspect as status and stats read it: only ID, Image,
// RestartCount, State, and HostConfig's RestartPolicy and Memory are set.
func (li *leanInspect) response() *container.InspectResponse {
	c := &container.InspectResponse{ID: li.ID, Image: li.Image, RestartCount: li.RestartCount, State: li.State}
	if li.HostConfig != nil {
		c.HostConfig = &container.HostConfig{RestartPolicy: li.HostConfig.RestartPolicy}
		c.HostConfig.Memory = li.HostConfig.Memory
	}
	return c
}

// bodyBuffers holds the buffers lean inspects read answers into.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// inspect returns the lean inspect of container id, and false when the engine did
// not answer 200 with a body that decodes (the caller then asks the client).
func (l *leanInspector) inspect(ctx context.Context, id string) (*container.InspectResponse, bool) {
	if l == nil {
		return nil, false
	}
	// The list call before has negotiated the version, or pinned it from the
	// environment; a version the engine refuses is a 400, asked again as above.
	version := l.cli.ClientVersion()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/v"+version+"/containers/"+url.PathEscape(id)+"/json", nil)
	if err != nil {
		return nil, false
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := l.http.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // so that the connection is reused
		return nil, false
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); bodyBuffers.Put(buf) }()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, false
	}
	var li leanInspect
	if err := decodeLean(buf.Bytes(), &li); err != nil {
		return nil, false
	}
	return li.response(), true
}
