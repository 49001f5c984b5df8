package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// testdata/state-v1/state.db was written by `osupgrade serve --fleet sim
// --clock real --time-scale 60` built from the release before the rollout
// state was sealed (commit 21c7cc9), driven as startThenKill drives it: set
// "kill" = scaleSetBody(10) with a 60 s boot time, killTarget published, an
// OS upgrade started through the API, the process killed with SIGKILL in the
// middle of batch 2 (2 upgraded, 2 in progress). A data directory written by
// that release resumes here and finishes its rollout: one attempt, started
// when it was, all 10 upgraded, none reimaged twice.
func TestStateFromPreviousReleaseResumes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "state-v1", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "state.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := openCrashServer(t, dir)
	o := s.Orchestrator()
	const set = "kill"

	var startedAt time.Time
	if err := o.View(set, func(rec *orchestrator.SetRecord) {
		a := rec.Active()
		if a == nil || len(rec.Attempts) != 1 {
			t.Fatalf("the saved set has %d attempts and none in progress, want one in progress", len(rec.Attempts))
		}
		c := a.Rollout.Progress()
		if c.Successful != 2 || c.InProgress != 2 || c.Pending != 6 {
			t.Fatalf("the saved rollout reads %+v, want 2 upgraded, 2 in progress, 6 pending", c)
		}
		startedAt = a.Rollout.StartTime()
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := s.AdvanceClock(ctx, s.Now().Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := o.View(set, func(rec *orchestrator.SetRecord) {
		a := rec.Last()
		if len(rec.Attempts) != 1 {
			t.Fatalf("%d attempts after the resume, want the one that was saved", len(rec.Attempts))
		}
		if st, c := a.Rollout.Status(), a.Rollout.Progress(); st != plan.StatusCompleted || c.Successful != 10 {
			t.Fatalf("the resumed rollout ended %s with %+v, want Completed with 10 upgraded (%s)", st, c, a.Rollout.ErrorMessage())
		}
		if !a.Rollout.StartTime().Equal(startedAt) {
			t.Fatalf("the attempt's start moved across the resume: %s then %s", startedAt, a.Rollout.StartTime())
		}
	}); err != nil {
		t.Fatal(err)
	}
	obs, err := s.fleet.inner.Observe(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 10 {
		t.Fatalf("%d instances after the resume, want 10", len(obs))
	}
	for _, in := range obs {
		if in.Version != killTarget || !plan.HealthyOn(&in, killTarget, plan.HealthExtension) {
			t.Fatalf("instance %d is %+v after the resume, want healthy on %s", in.ID, in, killTarget)
		}
	}
	// None reimaged twice, from the fleet's log across both releases.
	var fj struct{ Entries []FleetLogEntry }
	// (call adds its own query: the set is picked out here.)
	body := call(t, s, "GET", "/osupgrade/fleet/journal", nil, http.StatusOK)
	if err := json.Unmarshal(body, &fj); err != nil {
		t.Fatal(err)
	}
	reimages := map[int]int{}
	for _, e := range fj.Entries {
		if e.Set == set && e.Kind == "reimage" {
			reimages[e.ID]++
		}
	}
	for id := range 10 {
		if reimages[id] != 1 {
			t.Fatalf("instance %d reimaged %d times across the releases, want once (all: %v)", id, reimages[id], reimages)
		}
	}
}
