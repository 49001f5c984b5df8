package docker

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// listCache keeps each set's last container listing for Observe while
// nothing can have changed it. With push health an observation of an idle
// set is a read of the collector and one container listing; the listing
// (the engine serialising every container of the set, the client decoding
// it) was then most of what observing cost, a dozen times a wall second at
// time scale 60. A listing stays valid until any change: every mutating
// request of the fleet's own client (before it is sent and after it
// returns), every engine event of the run's containers (a crash, a kill
// from outside), a break in the event stream, or listMaxAge.
type listCache struct {
	mu    sync.Mutex
	gen   uint64 // bumped by every change
	live  bool   // the event stream is up: without it nothing is kept
	lists map[string]cachedList
}

type cachedList struct {
	gen  uint64
	at   time.Time
	list []container.Summary
}

// listMaxAge bounds a cached listing's age whatever the events say: a
// change the stream missed is seen within it. One listing a second of an
// idle set of 200 is a small fraction of the 12 a second it replaces.
const listMaxAge = time.Second

func newListCache() *listCache { return &listCache{lists: map[string]cachedList{}} }

// changed invalidates every cached listing.
func (c *listCache) changed() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// setLive records whether the event stream is up; either way what was
// cached is invalid (events may have been missed).
func (c *listCache) setLive(live bool) {
	c.mu.Lock()
	c.live = live
	c.gen++
	c.mu.Unlock()
}

// get returns set's cached listing when nothing changed since it was
// begun and it is younger than listMaxAge at now.
func (c *listCache) get(set string, now time.Time) ([]container.Summary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lists[set]
	if !ok || !c.live || e.gen != c.gen || now.Sub(e.at) >= listMaxAge {
		return nil, false
	}
	return e.list, true
}

// begin is the generation a listing about to be made belongs to: a change
// while it is made leaves it invalid.
func (c *listCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps a listing begun at gen and made at at. The list is shared by
// the Observes that read it and must not be changed.
func (c *listCache) put(set string, gen uint64, at time.Time, list []container.Summary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.lists[set] = cachedList{gen: gen, at: at, list: list}
	}
}

// forget drops set's listing (the set is gone).
func (c *listCache) forget(set string) {
	c.mu.Lock()
	delete(c.lists, set)
	c.mu.Unlock()
}

// eventReplay is how far back the event stream is asked to start: events
// the engine saw just before the subscription (clocks of the engine and of
// this process may differ a little) invalidate too.
const eventReplay = 2 * time.Second

// followEvents invalidates the cache on every engine event of the run's
// containers until ctx ends, subscribing again after a break (the cache
// holds nothing meanwhile).
func (f *Fleet) followEvents(ctx context.Context) {
	sel := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", LabelRun+"="+f.runID))
	for ctx.Err() == nil {
		since := time.Now().Add(-eventReplay)
		sub, cancel := context.WithCancel(ctx)
		msgs, errs := f.cli.Events(sub, events.ListOptions{Since: strconv.FormatInt(since.Unix(), 10), Filters: sel})
		f.lists.setLive(true)
	stream:
		for {
			select {
			case <-msgs:
				f.lists.changed()
			case <-errs:
				break stream
			case <-ctx.Done():
				break stream
			}
		}
		cancel()
		f.lists.setLive(false)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
