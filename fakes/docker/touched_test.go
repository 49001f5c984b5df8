package docker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// The engine log sees the paths the real client sends: each request below
// addresses one object, and only that object's Foreign line counts as
// addressed (I-7 blames a run only for what its own client asked).
func TestEngineLogAddressed(t *testing.T) {
	const (
		cid  = "93b508f1cecf0123456789abcdef0123456789abcdef0123456789abcdef0123"
		nid  = "2f1122a25256aaaabbbbccccddddeeeeffff00001111222233334444555566667"
		imid = "sha256:fb9680d7324986aa4fff29b574aee56f318782b3caa3e84c2db3e024847e9931"
	)
	lines := map[string]string{
		"container by id":   "container " + cid[:12] + " /web-0 image=sha256:x state=running",
		"container by name": "container 111111111111 /lookalike image=sha256:x state=created",
		"untouched":         "container 222222222222 /bystander image=sha256:x state=running",
		"network":           "network " + nid[:12] + " foreign driver=bridge",
		"volume":            "volume data-1 driver=local",
		"image by tag":      "image sha256:0123456789abcdef tags=reg.example/team/app:1.0",
		"image by id":       "image " + imid + " tags=",
		"untouched volume":  "volume other driver=local",
	}
	cases := []struct {
		name string
		call func(context.Context, *client.Client) error
		want []string
	}{
		{"nothing sent", func(context.Context, *client.Client) error { return nil }, nil},
		{"reads only", func(ctx context.Context, c *client.Client) error {
			_, err := c.ContainerList(ctx, container.ListOptions{All: true})
			return err
		}, nil},
		{"kill by id", func(ctx context.Context, c *client.Client) error { return c.ContainerKill(ctx, cid, "KILL") }, []string{"container by id"}},
		{"remove by name", func(ctx context.Context, c *client.Client) error {
			return c.ContainerRemove(ctx, "lookalike", container.RemoveOptions{Force: true})
		}, []string{"container by name"}},
		{"network disconnect", func(ctx context.Context, c *client.Client) error {
			return c.NetworkDisconnect(ctx, nid, "x", true)
		}, []string{"network"}},
		{"volume remove", func(ctx context.Context, c *client.Client) error { return c.VolumeRemove(ctx, "data-1", true) }, []string{"volume"}},
		{"image by a name with slashes", func(ctx context.Context, c *client.Client) error {
			_, err := c.ImageRemove(ctx, "reg.example/team/app:1.0", image.RemoveOptions{})
			return err
		}, []string{"image by tag"}},
		{"image tag by id", func(ctx context.Context, c *client.Client) error {
			return c.ImageTag(ctx, imid, "mine:1")
		}, []string{"image by id"}},
		{"container create names nothing existing", func(ctx context.Context, c *client.Client) error {
			_, err := c.ContainerCreate(ctx, &container.Config{Image: "x"}, nil, nil, nil, "lookalike")
			return err
		}, nil},
		{"prune reaches every container", func(ctx context.Context, c *client.Client) error {
			_, err := c.ContainersPrune(ctx, filters.Args{})
			return err
		}, []string{"container by id", "container by name", "untouched"}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet:
			_, _ = w.Write([]byte(`[]`))
		case r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/images/"):
			_, _ = w.Write([]byte(`[]`))
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &engineLog{next: http.DefaultTransport, refs: map[string]bool{}, pruned: map[string]bool{}}
			c, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithVersion("1.41"), client.WithHTTPClient(&http.Client{Transport: log}))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.call(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, k := range tc.want {
				want[k] = true
			}
			for k, line := range lines {
				if got := log.addressed(line); got != want[k] {
					t.Errorf("addressed(%s: %q) = %v, want %v (recorded %v, pruned %v)", k, line, got, want[k], log.refs, log.pruned)
				}
			}
		})
	}
}
