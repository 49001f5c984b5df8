package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// An accepted manual trigger is the latest rolling upgrade at once: with a
// real clock the runner starts the rollout at its next Step, and until
// then rollingUpgrades/latest answered 404 (6 of 300 answers in a bench
// run). The runner is not started here, so no Step comes between the two
// requests.
func TestLatestRolloutShowsAnAcceptedTriggerBeforeItsFirstStep(t *testing.T) {
	s, err := Open(context.Background(), Options{DataDir: t.TempDir(), Clock: "real", TimeScale: 1, WallNow: time.Now, Token: testToken, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	call(t, s, "PUT", setPath(""), scaleSetBody(3), http.StatusOK, http.StatusCreated)
	call(t, s, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, http.StatusCreated)
	before := s.Now()
	call(t, s, "POST", setPath("/osRollingUpgrade"), nil, http.StatusAccepted)

	var latest rollingUpgradeStatus
	if err := json.Unmarshal(call(t, s, "GET", setPath("/rollingUpgrades/latest"), nil, http.StatusOK), &latest); err != nil {
		t.Fatal(err)
	}
	rs := latest.Properties.RunningStatus
	if rs.Code != "RollingForward" || rs.EndTime != nil {
		t.Errorf("runningStatus %+v, want RollingForward without an end", rs)
	}
	if rs.StartTime.Before(before.Add(-time.Second)) || rs.StartTime.After(s.Now()) {
		t.Errorf("startTime %s, want the request's time (%s)", rs.StartTime, before)
	}
}
