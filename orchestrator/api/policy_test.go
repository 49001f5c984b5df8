package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

// TestPolicySettingsNotCarriedOutAreRefused: a policy setting osupgrade
// does not carry out (a surge, cross-zone batches, deferral) is a 400
// naming the property, never accepted and dropped; false, its default,
// is what osupgrade does and is accepted and echoed.
func TestPolicySettingsNotCarriedOutAreRefused(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	for i, tc := range []struct {
		name   string
		edit   func(up *armcompute.UpgradePolicy, v bool)
		target string
	}{
		{"maxSurge", func(up *armcompute.UpgradePolicy, v bool) {
			up.RollingUpgradePolicy = &armcompute.RollingUpgradePolicy{MaxSurge: to.Ptr(v)}
		}, "properties.upgradePolicy.rollingUpgradePolicy.maxSurge"},
		{"enableCrossZoneUpgrade", func(up *armcompute.UpgradePolicy, v bool) {
			up.RollingUpgradePolicy = &armcompute.RollingUpgradePolicy{EnableCrossZoneUpgrade: to.Ptr(v)}
		}, "properties.upgradePolicy.rollingUpgradePolicy.enableCrossZoneUpgrade"},
		{"osRollingUpgradeDeferral", func(up *armcompute.UpgradePolicy, v bool) {
			up.AutomaticOSUpgradePolicy = &armcompute.AutomaticOSUpgradePolicy{OSRollingUpgradeDeferral: to.Ptr(v)}
		}, "properties.upgradePolicy.automaticOSUpgradePolicy.osRollingUpgradeDeferral"},
	} {
		for _, on := range []bool{true, false} {
			doc := scaleSetBody(2)
			tc.edit(doc.Properties.UpgradePolicy, on)
			b, _ := json.Marshal(doc)
			rec := do(h, "PUT", fuzzBase+fmt.Sprintf("s%d-%v", i, on), b)
			if !on {
				if rec.Code != http.StatusCreated {
					t.Errorf("%s false: %d %.300s, want 201", tc.name, rec.Code, rec.Body.String())
				} else if !strings.Contains(rec.Body.String(), `"`+tc.name+`":false`) {
					t.Errorf("%s false: not echoed in %.600s", tc.name, rec.Body.String())
				}
				continue
			}
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s true: %d %.300s, want 400", tc.name, rec.Code, rec.Body.String())
				continue
			}
			ed := armError(t, rec.Body.Bytes())
			if ed.Code != "InvalidParameter" || ed.Target != tc.target || !strings.Contains(ed.Message, tc.name) {
				t.Errorf("%s true: %+v, want InvalidParameter on %s naming it", tc.name, ed, tc.target)
			}
		}
	}
}

// TestRollingPolicyRoundTrip: the policy sent is the policy the scale set
// and its rollingUpgrades/latest show (one mapping each way).
func TestRollingPolicyRoundTrip(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	doc := scaleSetBody(2)
	doc.Properties.UpgradePolicy.RollingUpgradePolicy = &armcompute.RollingUpgradePolicy{
		MaxBatchInstancePercent: to.Ptr(int32(50)), MaxUnhealthyInstancePercent: to.Ptr(int32(30)),
		MaxUnhealthyUpgradedInstancePercent: to.Ptr(int32(0)), PauseTimeBetweenBatches: to.Ptr("PT1M30S"),
		PrioritizeUnhealthyInstances: to.Ptr(true),
	}
	b, _ := json.Marshal(doc)
	if rec := do(h, "PUT", fuzzBase+"rt", b); rec.Code != http.StatusCreated {
		t.Fatalf("PUT: %d %.300s", rec.Code, rec.Body.String())
	}
	m, ok := e.srv.o.ScaleSet("rt")
	if !ok {
		t.Fatal("scale set rt not in the orchestrator")
	}
	r := m.Rolling
	if r.MaxBatchInstancePercent != 50 || r.MaxUnhealthyInstancePercent != 30 || r.MaxUnhealthyUpgradedInstancePercent != 0 || r.PauseTimeBetweenBatches.Seconds() != 90 || !r.PrioritizeUnhealthyInstances {
		t.Errorf("model policy %+v", r)
	}
	got := rollingToARM(r)
	if *got.MaxBatchInstancePercent != 50 || *got.PauseTimeBetweenBatches != "PT1M30S" || !*got.PrioritizeUnhealthyInstances {
		t.Errorf("rendered %+v", got)
	}
	doc.Properties.UpgradePolicy.RollingUpgradePolicy.MaxUnhealthyUpgradedInstancePercent = to.Ptr(int32(101))
	b, _ = json.Marshal(doc)
	rec := do(h, "PUT", fuzzBase+"rt2", b)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("101%%: %d, want 400", rec.Code)
	}
	if ed := armError(t, rec.Body.Bytes()); ed.Target != "properties.upgradePolicy.rollingUpgradePolicy.maxUnhealthyUpgradedInstancePercent" || !strings.Contains(ed.Message, "want 0 to 100") {
		t.Errorf("101%%: %+v", ed)
	}
}
