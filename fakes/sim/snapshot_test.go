package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// op is one input to a fleet, drawn once and applied to both fleets alike.
type op func(ctx context.Context, f *sim.Fleet, c *clock.Virtual) error

var switchKinds = []fault.Kind{fault.AppUnhealthy, fault.Down, fault.Kill, fault.Stop, fault.Restart, fault.SlowBoot, fault.ExtensionFailure, fault.Lie, fault.Flap, fault.Pause, fault.Partition, fault.Loss, fault.Latency, fault.SlowLink}

var badKinds = []fault.BadKind{fault.NeverHealthy, fault.CrashOnBoot, fault.FailsExtensions, fault.BadKindNone}

func drawModel(rng *rand.Rand, name string, start time.Time) orchestrator.ScaleSet {
	m := orchestrator.ScaleSet{Name: name, Capacity: 1 + rng.IntN(12), BootTime: time.Duration(10+rng.IntN(80)) * time.Second, Health: plan.HealthMode(rng.IntN(2))}
	if rng.IntN(2) == 0 {
		m.Zones = []string{"1", "2", "3"}[:1+rng.IntN(3)]
	}
	for i := range rng.IntN(3) {
		e := orchestrator.Extension{Name: fmt.Sprintf("e%d", i), Type: "CustomScript"}
		if rng.IntN(3) == 0 {
			e.SASExpiresAt = start.Add(time.Duration(rng.IntN(3600)) * time.Second)
		}
		m.Extensions = append(m.Extensions, e)
	}
	return m
}

// drawOp draws an input for the sets a fleet may hold (names), with
// versions v0..v3.
func drawOp(rng *rand.Rand, names []string, start time.Time) op {
	name := names[rng.IntN(len(names))]
	version := fmt.Sprintf("v%d", rng.IntN(4))
	switch r := rng.IntN(20); {
	case r < 6:
		d := time.Duration(rng.IntN(120)) * time.Second
		return func(_ context.Context, _ *sim.Fleet, c *clock.Virtual) error { c.Advance(d); return nil }
	case r < 10:
		id := rng.IntN(12)
		return func(ctx context.Context, f *sim.Fleet, _ *clock.Virtual) error {
			return f.Reimage(ctx, name, id, plan.Image{Ref: "img", Version: version})
		}
	case r < 16:
		ids := []int{rng.IntN(12)}
		sw := fault.Switch{Kind: switchKinds[rng.IntN(len(switchKinds))], On: rng.IntN(3) > 0, Delay: time.Duration(rng.IntN(300)) * time.Second, Period: time.Duration(1+rng.IntN(90)) * time.Second, Percent: []int{10, 50, 100}[rng.IntN(3)], Rate: 1 + rng.IntN(5000)}
		if rng.IntN(2) == 0 {
			sw.Version = version
		}
		return func(ctx context.Context, f *sim.Fleet, _ *clock.Virtual) error { return f.Inject(ctx, name, ids, sw) }
	case r < 17:
		kind := badKinds[rng.IntN(len(badKinds))]
		return func(_ context.Context, f *sim.Fleet, _ *clock.Virtual) error {
			f.SetBadVersion(version, kind)
			return nil
		}
	case r < 18:
		m := drawModel(rng, name, start)
		return func(ctx context.Context, f *sim.Fleet, _ *clock.Virtual) error {
			if err := f.DeleteScaleSet(ctx, name); err != nil {
				return err
			}
			return f.CreateScaleSet(ctx, m, version)
		}
	default:
		sas := start.Add(time.Duration(rng.IntN(3600)) * time.Second)
		return func(ctx context.Context, f *sim.Fleet, _ *clock.Virtual) error {
			snap, err := f.SetSnapshot(name)
			if err != nil {
				return err
			}
			m := snap.Model
			m.Extensions = append([]orchestrator.Extension{{Name: "sas", Type: "CustomScript", SASExpiresAt: sas}}, m.Extensions...)
			return f.UpdateModel(ctx, m)
		}
	}
}

// observe is everything a user of the fleet can see of it at its clock's
// time: every set's report and data disks, and the next event.
func observe(ctx context.Context, f *sim.Fleet, names []string) (string, error) {
	var out []any
	for _, n := range names {
		obs, err := f.Observe(ctx, n)
		if errors.Is(err, orchestrator.ErrNotFound) {
			out = append(out, "no "+n)
			continue
		}
		if err != nil {
			return "", err
		}
		data, err := f.Data(n)
		if err != nil {
			return "", err
		}
		out = append(out, obs, data)
	}
	next, ok := f.NextEvent()
	out = append(out, next, ok)
	b, err := json.Marshal(out)
	return string(b), err
}

// TestSnapshotRestoreStepsIdentically: random fleets with faults, boots and
// grace periods in flight are snapshotted, the snapshot goes through JSON
// into a fresh fleet, and both fleets take the rest of the run's inputs: they
// report the same thing after every one, and end with equal snapshots.
func TestSnapshotRestoreStepsIdentically(t *testing.T) {
	ctx := context.Background()
	for trial := range 300 {
		rng := rand.New(rand.NewPCG(uint64(trial), 17))
		start := clock.Epoch
		names := []string{"a", "b", "c"}[:1+rng.IntN(3)]
		ca := clock.NewVirtual(start)
		a := sim.New(ca, uint64(trial))
		for _, n := range names {
			if err := a.CreateScaleSet(ctx, drawModel(rng, n, start), "v0"); err != nil {
				t.Fatal(err)
			}
		}
		ops := make([]op, 20+rng.IntN(120))
		for i := range ops {
			ops[i] = drawOp(rng, names, start)
		}
		cut := rng.IntN(len(ops))
		var b *sim.Fleet
		var cb *clock.Virtual
		for i, o := range ops {
			if i == cut {
				raw, err := json.Marshal(a.Snapshot())
				if err != nil {
					t.Fatal(err)
				}
				var snap sim.Snapshot
				if err := json.Unmarshal(raw, &snap); err != nil {
					t.Fatal(err)
				}
				cb = clock.NewVirtual(snap.Time)
				b = sim.New(cb, 0)
				if err := b.Restore(snap); err != nil {
					t.Fatalf("trial %d: restore: %v", trial, err)
				}
			}
			errA := o(ctx, a, ca)
			if b == nil {
				continue
			}
			errB := o(ctx, b, cb)

			if fmt.Sprint(errA) != fmt.Sprint(errB) {
				t.Fatalf("trial %d op %d: errors differ: %v / %v", trial, i, errA, errB)
			}
			oa, err := observe(ctx, a, names)
			if err != nil {
				t.Fatal(err)
			}
			ob, err := observe(ctx, b, names)
			if err != nil {
				t.Fatal(err)
			}
			if oa != ob {
				j := 0
				for j < len(oa) && j < len(ob) && oa[j] == ob[j] {
					j++
				}
				ja, _ := json.Marshal(a.Snapshot())
				jb, _ := json.Marshal(b.Snapshot())
				t.Logf("A %s\nB %s", ja, jb)
				t.Fatalf("trial %d: after op %d (snapshot before op %d) the fleets differ at byte %d:\n%s\n%s", trial, i, cut, j, oa[max(0, j-300):], ob[max(0, j-300):])
			}
		}
		sa, sb := a.Snapshot(), b.Snapshot()
		ja, _ := json.Marshal(sa)
		jb, _ := json.Marshal(sb)
		if string(ja) != string(jb) {
			t.Fatalf("trial %d: final snapshots differ:\n%s\n%s", trial, ja, jb)
		}
	}
}

// A snapshot in a format this build does not know is refused whole.
func TestRestoreRefusesUnknownFormat(t *testing.T) {
	c := clock.NewVirtual(clock.Epoch)
	a := sim.New(c, 1)
	if err := a.CreateScaleSet(context.Background(), orchestrator.ScaleSet{Name: "a", Capacity: 2}, "v0"); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*sim.Snapshot){
		func(s *sim.Snapshot) { s.Format = 2 },
		func(s *sim.Snapshot) { s.Sets[0].Format = 0 },
		func(s *sim.Snapshot) { s.Sets[0].Instances = s.Sets[0].Instances[:1] },
	} {
		snap := a.Snapshot()
		mutate(&snap)
		b := sim.New(c, 1)
		if err := b.Restore(snap); err == nil {
			t.Fatalf("restored %+v", snap)
		}
		if len(b.Sets()) != 0 {
			t.Fatalf("a refused snapshot left sets %v", b.Sets())
		}
	}
	if !reflect.DeepEqual(a.Sets(), []string{"a"}) {
		t.Fatal(a.Sets())
	}
}
