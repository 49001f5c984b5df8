package docker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// watchPoll is how often, in wall time, a watched fleet is observed when
// nobody else observes it: a set another Observe reported on within it is
// not observed again (at N=200 that halves the agents' status calls while
// the orchestrator polls every 250 ms).
const watchPoll = time.Second

// watch is the fleet-side journal feed of WatchFleet.
type watch struct {
	mu     sync.Mutex
	report func(at time.Time, set string, in plan.Instance, reimaged bool)
	last   map[string][]plan.Instance
	lastAt map[string]time.Time
	// lastWall is when (wall time) each set's last observation was reported.
	lastWall map[string]time.Time
}

// stale is whether set's last reported observation is older than watchPoll.
func (w *watch) stale(set string, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return now.Sub(w.lastWall[set]) >= watchPoll
}

// WatchFleet reports, on the scenario clock, every OS disk the fleet
// replaces (reimaged true, as the container is created, before Reimage
// returns) and every change of an instance's report (running,
// provisioning, health, version) seen by any Observe, including the
// fleet's own, every second of wall time, until stop is called. Reports
// are made one at a time, in time order.
func (f *Fleet) WatchFleet(ctx context.Context, report func(at time.Time, set string, in plan.Instance, reimaged bool)) (stop func(), err error) {
	w := &watch{report: report, last: map[string][]plan.Instance{}, lastAt: map[string]time.Time{}, lastWall: map[string]time.Time{}}
	f.mu.Lock()
	if f.watch != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("docker: the fleet is already watched")
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
					if w.stale(s, time.Now()) {
						_, _ = f.Observe(ctx, s) // Observe reports what changed
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

// observed reports what changed in an observation taken at (scenario
// time); an observation older than one already reported is dropped.
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

// reimaged reports a replaced OS disk.
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

// builderStep reports whether a container is one of the classic builder's
// steps (COPY, LABEL, ENTRYPOINT ... run as "/bin/sh -c #(nop) ..."): the
// engine creates and removes one per instruction of any image build, ours
// or a concurrent test's, within the build. It is nobody's object to touch.
func builderStep(command string) bool { return strings.Contains(command, "#(nop) ") }

// Addressed reports whether this fleet's engine client sent a request that
// can change the object of one Foreign line (a stop, a kill, a removal, a
// prune of its kind …): of the foreign objects that went or changed during
// a run, only those can be the run's doing (I-7).
func (f *Fleet) Addressed(line string) bool { return f.engine.addressed(line) }

// Foreign lists what osupgrade did not create — every container, network,
// volume and image without osupgrade.owner=osupgrade — with the state a
// change of which would mean it was touched (I-7): compare a listing taken
// before a run with one taken after.
func (f *Fleet) Foreign(ctx context.Context) ([]string, error) {
	var out []string
	ours := func(l map[string]string) bool { return l[LabelOwner] == Owner }
	cs, err := f.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	for _, c := range cs {
		if !ours(c.Labels) && !builderStep(c.Command) {
			out = append(out, fmt.Sprintf("container %s %s image=%s state=%s", c.ID[:12], strings.Join(c.Names, ","), c.ImageID, c.State))
		}
	}
	ns, err := f.cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker: list networks: %w", err)
	}
	for _, n := range ns {
		if !ours(n.Labels) {
			out = append(out, fmt.Sprintf("network %s %s driver=%s", n.ID[:12], n.Name, n.Driver))
		}
	}
	vs, err := f.cli.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker: list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		if v != nil && !ours(v.Labels) {
			out = append(out, fmt.Sprintf("volume %s driver=%s", v.Name, v.Driver))
		}
	}
	is, err := f.cli.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("docker: list images: %w", err)
	}
	for _, im := range is {
		if !ours(im.Labels) {
			tags := slices.Clone(im.RepoTags)
			slices.Sort(tags)
			out = append(out, fmt.Sprintf("image %s tags=%s", im.ID, strings.Join(tags, ",")))
		}
	}
	slices.Sort(out)
	return out, nil
}
