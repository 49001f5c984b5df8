package docker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/docker/docker/client"
)

// engineLog records, at the wire, every request of the fleet's engine client
// that can change an existing object: its kind (containers, networks,
// volumes, images) and the name or id it addressed. I-7 attributes a foreign
// object that went or changed during a run to the run only when the run's
// own client addressed it: the engine is shared (other runs, other tests,
// the user's own work), and its listings alone cannot say who removed what.
type engineLog struct {
	next http.RoundTripper

	mu sync.Mutex
	// refs holds "kind ref" for every mutating request; pruned holds the
	// kinds a prune (which addresses no object by name) was sent for.
	refs   map[string]bool
	pruned map[string]bool
	// changed, when set (before the client is used), is told of every
	// mutating request before it is sent and after it returns: cached
	// listings are invalid from the moment the engine may act on it.
	changed func()
}

func (l *engineLog) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return l.next.RoundTrip(req)
	}
	l.record(req.URL.Path)
	if l.changed != nil {
		l.changed()
		defer l.changed()
	}
	return l.next.RoundTrip(req)
}

// record notes the object a request path addresses:
// /v1.41/containers/ID/kill, /volumes/NAME, /images/sha256:…/tag, ….
// Creations address no existing object and are not recorded.
func (l *engineLog) record(path string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) > 0 && strings.HasPrefix(seg[0], "v1.") {
		seg = seg[1:]
	}
	if len(seg) < 2 {
		return
	}
	kind := seg[0]
	switch kind {
	case "containers", "networks", "volumes", "images":
	default:
		return
	}
	ref := seg[1]
	if kind == "images" {
		// An image name may hold slashes (registry/repo:tag): everything up
		// to the action is the name.
		name := seg[1:]
		if n := len(name); n > 1 && (name[n-1] == "tag" || name[n-1] == "push") {
			name = name[:n-1]
		}
		ref = strings.Join(name, "/")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ref {
	case "create", "load", "build":
		return
	case "prune":
		l.pruned[kind] = true
		return
	}
	l.refs[kind+" "+ref] = true
}

// addressed reports whether the client addressed the object of one Foreign
// listing line ("container ID12 /name …", "network ID12 name …",
// "volume NAME …", "image sha256:ID tags=a,b").
func (l *engineLog) addressed(line string) bool {
	f := strings.Fields(line)
	if len(f) < 2 {
		return false
	}
	kind := f[0] + "s"
	names := []string{f[1]}
	switch f[0] {
	case "container":
		if len(f) > 2 {
			for n := range strings.SplitSeq(f[2], ",") {
				names = append(names, strings.TrimPrefix(n, "/"))
			}
		}
	case "network":
		if len(f) > 2 {
			names = append(names, f[2])
		}
	case "image":
		names = append(names, strings.TrimPrefix(f[1], "sha256:"))
		for _, w := range f[2:] {
			if tags, ok := strings.CutPrefix(w, "tags="); ok && tags != "" {
				names = append(names, strings.Split(tags, ",")...)
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pruned[kind] {
		return true
	}
	for ref := range l.refs {
		k, r, _ := strings.Cut(ref, " ")
		if k != kind {
			continue
		}
		for _, n := range names {
			// The engine takes any unique id prefix of 12 or more; listings
			// show 12 characters.
			if r == n || (len(r) >= 12 && len(n) >= 12 && (strings.HasPrefix(r, n) || strings.HasPrefix(n, r))) {
				return true
			}
		}
	}
	return false
}

// connectLogged is Connect with the client's requests recorded in a new
// log. The returned client's Close does not reach the connection pool
// (the client only knows its own transport); closing base does.
func connectLogged(ctx context.Context) (cli, base *client.Client, log *engineLog, err error) {
	base, err = Connect(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	hc := base.HTTPClient()
	log = &engineLog{next: hc.Transport, refs: map[string]bool{}, pruned: map[string]bool{}}
	hc.Transport = log
	cli, err = client.NewClientWithOpts(client.FromEnv, client.WithHTTPClient(hc), client.WithAPIVersionNegotiation())
	if err != nil {
		base.Close()
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrEngineUnavailable, err)
	}
	return cli, base, log, nil
}
