package docker

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// A cached listing is served only while the event stream is up, nothing
// changed since the listing was begun, and it is younger than listMaxAge.
func TestListCache(t *testing.T) {
	t0 := time.Unix(1000, 0)
	list := []container.Summary{{ID: "a"}}
	cases := []struct {
		name string
		run  func(c *listCache) // after the stream is up
		at   time.Duration      // when get asks, after t0
		want bool
	}{
		{"fresh", func(c *listCache) { c.put("s", c.begin(), t0, list) }, 0, true},
		{"just under the age bound", func(c *listCache) { c.put("s", c.begin(), t0, list) }, listMaxAge - time.Millisecond, true},
		{"too old", func(c *listCache) { c.put("s", c.begin(), t0, list) }, listMaxAge, false},
		{"changed after", func(c *listCache) { c.put("s", c.begin(), t0, list); c.changed() }, 0, false},
		{"changed while listing", func(c *listCache) { g := c.begin(); c.changed(); c.put("s", g, t0, list) }, 0, false},
		{"stream broke", func(c *listCache) { c.put("s", c.begin(), t0, list); c.setLive(false) }, 0, false},
		{"stream back: listed again", func(c *listCache) { c.setLive(false); c.setLive(true); c.put("s", c.begin(), t0, list) }, 0, true},
		{"listed before the stream came back", func(c *listCache) { c.setLive(false); g := c.begin(); c.setLive(true); c.put("s", g, t0, list) }, 0, false},
		{"another set", func(c *listCache) { c.put("other", c.begin(), t0, list) }, 0, false},
		{"set deleted", func(c *listCache) { c.put("s", c.begin(), t0, list); c.forget("s") }, 0, false},
	}
	for _, tc := range cases {
		c := newListCache()
		c.setLive(true)
		tc.run(c)
		if _, got := c.get("s", t0.Add(tc.at)); got != tc.want {
			t.Errorf("%s: cached %t, want %t", tc.name, got, tc.want)
		}
	}
	// Without the stream nothing is ever served.
	c := newListCache()
	c.put("s", c.begin(), t0, list)
	if _, ok := c.get("s", t0); ok {
		t.Error("a listing was served without the event stream")
	}
}
