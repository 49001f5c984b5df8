package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// R-AVAIL-1 across a region: a set whose platform batch waits for its zone
// (another set of the region holds another zone) is not a stuck set: its
// rollingUpgrades/latest shows the rollout in progress (RollingForward,
// instances still pending), the whole time it waits.
func TestZoneWaitShowsInProgress(t *testing.T) {
	s := openCrashServer(t, t.TempDir())
	zonal := func(name string, capacity int64) {
		body := scaleSetBody(capacity)
		body.Zones = []*string{to.Ptr("1"), to.Ptr("2"), to.Ptr("3")}
		body.Properties.PlatformFaultDomainCount = to.Ptr[int32](1)
		body.Properties.UpgradePolicy.AutomaticOSUpgradePolicy = &armcompute.AutomaticOSUpgradePolicy{EnableAutomaticOSUpgrade: to.Ptr(true)}
		call(t, s, "PUT", zoneSetPath(name, ""), body, http200or201...)
	}
	zonal("za", 6) // two instances a zone: still in zone 1 when zb would move on
	zonal("zb", 3)
	var mu sync.Mutex
	waiting := false // zb's latest event is a wait for its zone
	waits := 0
	s.o.Subscribe(func(e orchestrator.SetEvent) {
		if e.Set != "zb" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch e.Event.Kind {
		case orchestrator.EventZoneWait:
			waiting = true
			waits++
		case plan.EventBatchStarted, plan.EventRolloutFinished:
			waiting = false
		}
	})
	// Published past the one-time 3-hour window: both rollouts start at
	// publication.
	start := s.Now()
	if _, err := s.AdvanceClock(context.Background(), start.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	call(t, s, "POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": killTarget}, 201)
	checked := 0
	for step := 1; step <= 400; step++ {
		if _, err := s.AdvanceClock(context.Background(), start.Add(4*time.Hour+time.Duration(step)*5*time.Second)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		w := waiting
		mu.Unlock()
		var latest rollingUpgradeStatus
		if err := json.Unmarshal(call(t, s, "GET", zoneSetPath("zb", "/rollingUpgrades/latest"), nil, 200), &latest); err != nil {
			t.Fatal(err)
		}
		p := latest.Properties
		if w {
			checked++
			if p.RunningStatus.Code != "RollingForward" || p.Progress.PendingInstanceCount == 0 || p.RunningStatus.EndTime != nil {
				t.Fatalf("zb waits for its zone at step %d, but rollingUpgrades/latest shows %s (progress %+v, end %v), want RollingForward with instances pending", step, p.RunningStatus.Code, p.Progress, p.RunningStatus.EndTime)
			}
		}
		if p.RunningStatus.Code == "Completed" {
			break
		}
	}
	if waits == 0 || checked == 0 {
		t.Fatalf("zb never waited for its zone (waits %d, steps seen waiting %d): the case is not exercised", waits, checked)
	}
	var latest rollingUpgradeStatus
	if err := json.Unmarshal(call(t, s, "GET", zoneSetPath("zb", "/rollingUpgrades/latest"), nil, 200), &latest); err != nil {
		t.Fatal(err)
	}
	if latest.Properties.RunningStatus.Code != "Completed" {
		t.Errorf("zb ended %s, want Completed", latest.Properties.RunningStatus.Code)
	}
}

var http200or201 = []int{200, 201}

func zoneSetPath(name, suffix string) string {
	return strings.Replace(setPath(suffix), "/virtualMachineScaleSets/"+crashSet, "/virtualMachineScaleSets/"+name, 1)
}
