package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

const ubuntu = "Canonical:UbuntuServer:18.04-LTS"

func model(name string, n int) orchestrator.ScaleSet {
	return orchestrator.ScaleSet{
		Name: name, Region: "eastus", UpdateDomains: 5, Capacity: n, OS: "linux",
		Image:  orchestrator.ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS", Version: "latest"},
		Health: plan.HealthExtension, APIVersion: orchestrator.DefaultAPIVersion,
		EnableAutomaticOSUpgrade: true, Rolling: plan.DefaultRollingUpgradePolicy(),
		BootTime: 30 * time.Second,
	}
}

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingFleet counts reimages per instance.
type countingFleet struct {
	*sim.Fleet
	reimages map[int]int
}

func (f *countingFleet) Reimage(ctx context.Context, set string, id int, img plan.Image) error {
	f.reimages[id]++
	return f.Fleet.Reimage(ctx, set, id, img)
}

// TestRoundTripMidRollout saves a rollout in the middle of a batch and reads
// back exactly what was saved: the rollout is stored as its plan.Snapshot.
func TestRoundTripMidRollout(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st := open(t, path)
	clk := clock.NewVirtual(clock.Epoch)
	fleet := sim.New(clk, 1)
	o, err := orchestrator.New(ctx, orchestrator.Options{Clock: clk, Fleet: fleet, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"18.04.202501010", "18.04.202502010"} {
		if err := o.Publish(orchestrator.ImageVersion{Ref: ubuntu, Version: v, PublishedAt: clock.Epoch.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.CreateScaleSet(ctx, model("web", 10), "18.04.202501010"); err != nil {
		t.Fatal(err)
	}
	if err := o.StartOSUpgrade(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Step(ctx); err != nil {
		t.Fatal(err)
	}
	var want orchestrator.SetRecord
	if err := o.View("web", func(r *orchestrator.SetRecord) {
		if a := r.Active(); a == nil || !a.Rollout.InBatch() {
			t.Fatalf("want a batch in progress, got %+v", r.Last())
		}
		want = *r
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, path)
	defer st.Close()
	recs, err := st.LoadSets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("loaded %d records, want 1", len(recs))
	}
	got := recs[0]
	// JSON keeps instants, not monotonic readings or locations: compare
	// through a second encoding of what was saved.
	if err := st.SaveSet(ctx, &want); err != nil {
		t.Fatal(err)
	}
	again, _ := st.LoadSets(ctx)
	if !reflect.DeepEqual(got, again[0]) {
		t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, again[0])
	}
	ga, wa := got.Active().Rollout.Snapshot(), want.Active().Rollout.Snapshot()
	if ga.Current != wa.Current || len(ga.Members) != len(wa.Members) || !reflect.DeepEqual(ga.Order, wa.Order) || !ga.StartTime.Equal(wa.StartTime) {
		t.Fatalf("rollout state differs after reload: got current=%d members=%d, want current=%d members=%d", ga.Current, len(ga.Members), wa.Current, len(wa.Members))
	}
}

// TestUnappliedDecisionSurvives journals a decision, "crashes" before it is
// carried out for some instances, and checks a restarted orchestrator
// finishes it without reimaging any instance twice.
func TestUnappliedDecisionSurvives(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st := open(t, path)
	clk := clock.NewVirtual(clock.Epoch)
	rec := &orchestrator.SetRecord{Model: model("api", 10), Version: "1.0.0"}
	target := plan.Image{Ref: ubuntu, Version: "2.0.0"}
	r, err := plan.NewRollout(rec.Model.Policy(), target, nil, true, clock.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	rec.Attempts = []*orchestrator.Attempt{{ID: 1, StartedBy: orchestrator.StartedByUser, Target: orchestrator.ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS", Version: "2.0.0"}, Rollout: r}}
	// The planner's first decision, on a healthy fleet on 1.0.0.
	fleet := sim.New(clk, 1)
	if err := fleet.CreateScaleSet(ctx, rec.Model, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	obs, _ := fleet.Observe(ctx, "api")
	d := r.Next(plan.Observation{Now: clock.Epoch, Instances: obs})
	if len(d.Reimages) != 2 {
		t.Fatalf("first batch has %d reimages, want 2", len(d.Reimages))
	}
	rec.Unapplied = d.Reimages
	if err := st.SaveSet(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// The first reimage happened before the crash, the second did not.
	if err := fleet.Reimage(ctx, "api", d.Reimages[0].Index, target); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, path)
	defer st.Close()
	recs, err := st.LoadSets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs[0].Unapplied, d.Reimages) {
		t.Fatalf("unapplied decision after reload = %+v, want %+v", recs[0].Unapplied, d.Reimages)
	}
	cf := &countingFleet{Fleet: fleet, reimages: map[int]int{}}
	o, err := orchestrator.New(ctx, orchestrator.Options{Clock: clk, Fleet: cf, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if cf.reimages[d.Reimages[0].Index] != 0 || cf.reimages[d.Reimages[1].Index] != 1 {
		t.Fatalf("after restart reimages = %v; want only instance %d reimaged, once", cf.reimages, d.Reimages[1].Index)
	}
	recs, _ = st.LoadSets(ctx)
	if len(recs[0].Unapplied) != 0 {
		t.Fatalf("decision still unapplied after the restart's step: %+v", recs[0].Unapplied)
	}
}

func TestJournalAppendOnlyAndFiltered(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "state.db"))
	defer st.Close()
	for i := range 5 {
		set := "a"
		if i%2 == 1 {
			set = "b"
		}
		if err := st.AppendJournal(ctx, orchestrator.JournalEntry{Time: clock.Epoch.Add(time.Duration(i) * time.Minute), Set: set, Note: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.Journal(ctx, "", 0, 0)
	if err != nil || len(all) != 5 {
		t.Fatalf("journal = %d entries (%v), want 5", len(all), err)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
	}
	b, _ := st.Journal(ctx, "b", 0, 0)
	if len(b) != 2 || b[0].Seq != 2 || b[1].Seq != 4 {
		t.Fatalf("journal of b = %+v", b)
	}
	page, _ := st.Journal(ctx, "", 2, 2)
	if len(page) != 2 || page[0].Seq != 3 {
		t.Fatalf("page after 2 = %+v", page)
	}
	last, _ := st.LastJournalTime()
	if !last.Equal(clock.Epoch.Add(4 * time.Minute)) {
		t.Fatalf("last journal time = %v", last)
	}
}

func TestResources(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "state.db"))
	defer st.Close()
	if err := st.PutResources(ctx, "fleet", map[string][]byte{"web/1": []byte("a"), "web/2": []byte("b"), "api/1": []byte("c")}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := st.Resources(ctx, "fleet", "web/", func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keys, []string{"web/1", "web/2"}) {
		t.Fatalf("keys = %v", keys)
	}
	if err := st.DeletePrefix(ctx, "fleet", "web/"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Resource(ctx, "fleet", "web/1"); ok {
		t.Fatal("web/1 survived DeletePrefix")
	}
	if v, ok, _ := st.Resource(ctx, "fleet", "api/1"); !ok || string(v) != "c" {
		t.Fatalf("api/1 = %q %v", v, ok)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st := open(t, path)
	defer st.Close()
	_, err := Open(path, 50*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}
