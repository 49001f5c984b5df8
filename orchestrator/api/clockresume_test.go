package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// A server killed after it accepted a manual trigger, before any Step
// journaled a decision, resumes its clock no earlier than what it wrote.
// Its scaled clock ran ahead of the wall; the restart's clock started from
// the wall and from the newest journal entry (there was none), so the
// version published a moment before the trigger was in its future and the
// trigger upgraded to the previous version: 10 instances "Completed" on
// the old image (TestKillAndResumeWithFaultsOnDocker, under load, when the
// kill came before the first batch's commit).
func TestRestartResumesTheClockFromItsNewestWrite(t *testing.T) {
	dir := t.TempDir()
	wall := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	open := func() *Server {
		t.Helper()
		// The wall never moves; the scaled clock still runs (1000 scenario
		// seconds a wall second), so everything it stamps is after wall.
		s, err := Open(context.Background(), Options{DataDir: dir, Clock: "real", TimeScale: 1000, WallNow: func() time.Time { return wall }, Token: testToken, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	call(t, s, "PUT", setPath(""), scaleSetBody(3), http.StatusOK, http.StatusCreated)
	call(t, s, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, http.StatusCreated)
	call(t, s, "POST", setPath("/osRollingUpgrade"), nil, http.StatusAccepted)
	var accepted time.Time // the trigger's time as stored
	if err := s.Orchestrator().View(crashSet, func(rec *orchestrator.SetRecord) { accepted = rec.ManualRequestedAt }); err != nil || accepted.IsZero() {
		t.Fatalf("the accepted trigger's time: %v, %v", accepted, err)
	}
	if err := s.Close(); err != nil { // no Step ran: nothing journaled
		t.Fatal(err)
	}

	s = open()
	defer s.Close()
	if now := s.Now(); now.Before(accepted) {
		t.Errorf("the restarted clock reads %s, before the accepted trigger's %s", now, accepted)
	}
	if _, err := s.Orchestrator().Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	h, ok, err := s.Orchestrator().LatestRollout(crashSet)
	if err != nil || !ok {
		t.Fatalf("latest rollout: %v, %v", ok, err)
	}
	if got := h.Properties.TargetImageReference.Version; got != killTarget {
		t.Errorf("the trigger accepted before the restart upgrades to %s, want %s (published before it)", got, killTarget)
	}
}
