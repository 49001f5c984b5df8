package swarm

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// watch is the fleet-side journal feed of WatchFleet (the Docker fleet's).
type watch struct {
	mu       sync.Mutex
	report   func(at time.Time, set string, in plan.Instance, reimaged bool)
	last     map[string][]plan.Instance
	lastAt   map[string]time.Time
	lastWall map[string]time.Time
}

const watchPoll = time.Second

// WatchFleet reports every OS disk the fleet replaces (as the service is
// updated) and every change of an instance seen by any Observe, observing
// every second of wall time when nobody else does, until stop.
func (f *Fleet) WatchFleet(ctx context.Context, report func(at time.Time, set string, in plan.Instance, reimaged bool)) (stop func(), err error) {
	w := &watch{report: report, last: map[string][]plan.Instance{}, lastAt: map[string]time.Time{}, lastWall: map[string]time.Time{}}
	f.mu.Lock()
	if f.watch != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("swarm: the fleet is already watched")
	}
	f.watch = w
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(watchPoll / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.mu.Lock()
				sets := make([]string, 0, len(f.sets))
				for n := range f.sets {
					sets = append(sets, n)
				}
				f.mu.Unlock()
				sort.Strings(sets)
				for _, s := range sets {
					w.mu.Lock()
					stale := time.Since(w.lastWall[s]) >= watchPoll
					w.mu.Unlock()
					if stale {
						_, _ = f.Observe(ctx, s)
					}
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			f.mu.Lock()
			f.watch = nil
			f.mu.Unlock()
		})
	}, nil
}

func (f *Fleet) watcher() *watch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watch
}

func (f *Fleet) observed(set string, at time.Time, obs []plan.Instance) {
	w := f.watcher()
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if at.Before(w.lastAt[set]) {
		return
	}
	w.lastAt[set] = at
	w.lastWall[set] = time.Now()
	last := w.last[set]
	if len(last) != len(obs) {
		last = make([]plan.Instance, len(obs))
		for i := range last {
			last[i] = plan.Instance{ID: -1}
		}
	}
	now := f.clock.Now()
	for i, in := range obs {
		if last[i] != in {
			w.report(now, set, in, false)
			last[i] = in
		}
	}
	w.last[set] = last
}

func (f *Fleet) reimaged(set string, in plan.Instance) {
	w := f.watcher()
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := f.clock.Now()
	w.report(now, set, in, true)
	if last := w.last[set]; in.ID < len(last) {
		last[in.ID] = in
	}
	w.lastAt[set] = now
}
