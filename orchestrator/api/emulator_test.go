package api

import (
	"context"
	"encoding/json"
	"github.com/osupgrade/osupgrade/internal/clock"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEmulatorEndpointsAndRestart covers faults, the clock, gallery versions
// (R-TRIG-1), /metrics, and state that survives closing and reopening the
// data directory.
func TestEmulatorEndpointsAndRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	ctx := e.ctx
	f := e.factory(testToken, "")

	// A gallery version replicated to eastus only, and one excluded from
	// latest: a set in eastus gets 1.0.0 as "latest".
	gv := f.NewGalleryImageVersionsClient()
	for _, v := range []struct {
		name    string
		exclude bool
	}{{"1.0.0", false}, {"2.0.0", true}} {
		p, err := gv.BeginCreateOrUpdate(ctx, testRG, "gal", "app", v.name, armcompute.GalleryImageVersion{
			Location: to.Ptr("eastus"),
			Properties: &armcompute.GalleryImageVersionProperties{PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{
				TargetRegions: []*armcompute.TargetRegion{{Name: to.Ptr("East US")}}, ExcludeFromLatest: to.Ptr(v.exclude),
			}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PollUntilDone(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := gv.Get(ctx, testRG, "gal", "app", "2.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := got.Properties.ReplicationStatus
	if *rs.AggregatedState != armcompute.AggregatedReplicationStateCompleted || len(rs.Summary) != 1 || *rs.Summary[0].Region != "eastus" || !*got.Properties.PublishingProfile.ExcludeFromLatest {
		t.Fatalf("gallery version 2.0.0: %+v", got.Properties)
	}
	_, err = gv.BeginCreateOrUpdate(ctx, testRG, "gal", "app", "3.0.0", armcompute.GalleryImageVersion{Location: to.Ptr("eastus"), Properties: &armcompute.GalleryImageVersionProperties{PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{TargetRegions: []*armcompute.TargetRegion{{Name: to.Ptr("Atlantis")}}}}}, nil)
	if re := responseError(t, err, 400); !strings.Contains(re.Error(), "targetRegions[0].name") {
		t.Fatalf("bad region error: %v", err)
	}

	body := scaleSetBody(5)
	body.Properties.VirtualMachineProfile.StorageProfile.ImageReference = &armcompute.ImageReference{ID: to.Ptr("/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/galleries/gal/images/app")}
	p, err := f.NewVirtualMachineScaleSetsClient().BeginCreateOrUpdate(ctx, testRG, "gset", body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	vms := listVMs(t, f.NewVirtualMachineScaleSetVMsClient(), "gset")
	if v := *vms[0].Properties.StorageProfile.ImageReference.ExactVersion; v != "1.0.0" {
		t.Fatalf("gallery set runs %s, want 1.0.0 (2.0.0 is excluded from latest)", v)
	}

	// Faults by name.
	resp := e.emulator("POST", "/osupgrade/faults", map[string]any{"scaleSet": "gset", "instances": []int{3}, "fault": "app-unhealthy"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fault: %s %s", resp.Status, readBody(t, resp))
	}
	iv, err := f.NewVirtualMachineScaleSetVMsClient().GetInstanceView(ctx, testRG, "gset", "3", nil)
	if err != nil || *iv.VMHealth.Status.Code != "HealthState/unhealthy" {
		t.Fatalf("instance 3 after app-unhealthy: %v %v", iv.VMHealth, err)
	}
	resp = e.emulator("POST", "/osupgrade/faults", map[string]any{"scaleSet": "gset", "instances": []int{3}, "fault": "meteor"})
	if b := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(b, `"target":"fault"`) {
		t.Fatalf("unknown fault: %s %s", resp.Status, b)
	}

	// The clock moves forward only.
	resp = e.emulator("POST", "/osupgrade/clock", map[string]string{"advance": "90m"})
	var c clockBody
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || !c.Now.Equal(clockEpochPlus(90*time.Minute)) {
		t.Fatalf("clock after advance: %+v %v", c, err)
	}
	resp = e.emulator("POST", "/osupgrade/clock", map[string]string{"set": "2020-01-01T00:00:00Z"})
	if b := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(b, "never goes back") {
		t.Fatalf("clock set back: %s %s", resp.Status, b)
	}
	e.publish("18.04.202703010")

	// Metrics: API requests by route and code.
	resp = e.emulator("GET", "/metrics", nil)
	m := readBody(t, resp)
	if !strings.Contains(m, `osupgrade_api_requests_total{code="400",method="POST",route="POST /osupgrade/faults"} 1`) {
		t.Fatalf("metrics lack the request counter:\n%s", m)
	}
	if !strings.Contains(m, `osupgrade_scale_set_unhealthy_ratio{scale_set="gset"} 0.2`) {
		t.Fatalf("metrics lack the unhealthy ratio of gset:\n%s", m)
	}

	// Closing and reopening keeps scale sets, documents, the clock, the
	// gallery and published versions.
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, dir)
	f2 := e2.factory(testToken, "")
	if !e2.srv.Now().Equal(clockEpochPlus(90 * time.Minute)) {
		t.Fatalf("clock after reopen: %v", e2.srv.Now())
	}
	g, err := f2.NewVirtualMachineScaleSetsClient().Get(context.Background(), testRG, "gset", nil)
	if err != nil || *g.Properties.VirtualMachineProfile.ExtensionProfile.Extensions[1].Name != "setup" {
		t.Fatalf("scale set after reopen: %v", err)
	}
	if _, err := f2.NewGalleryImageVersionsClient().Get(ctx, testRG, "gal", "app", "1.0.0", nil); err != nil {
		t.Fatal(err)
	}
	imgs, err := f2.NewVirtualMachineImagesClient().List(ctx, "eastus", "Canonical", "UbuntuServer", ubuntuSKU, nil)
	if err != nil || len(imgs.VirtualMachineImageResourceArray) != 4 {
		t.Fatalf("versions after reopen: %d, %v", len(imgs.VirtualMachineImageResourceArray), err)
	}
	if len(listVMs(t, f2.NewVirtualMachineScaleSetVMsClient(), "gset")) != 5 {
		t.Fatal("VMs lost across reopen")
	}
}

func clockEpochPlus(d time.Duration) time.Time { return clockEpoch.Add(d) }

var clockEpoch = clock.Epoch
