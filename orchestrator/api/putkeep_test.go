package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
)

// docMap is a scale set body as a generic JSON object, to leave parts out.
func docMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

// TestPutKeepsWhatARMKeeps: a PUT that updates a scale set and leaves out
// the image reference (as `az vmss update` does), the OS profile, the OS
// disk, the fault domain count, the zones or the sku keeps the stored ones;
// what it gives replaces them; what ARM replaces on PUT (the upgrade
// policy) is not kept.
func TestPutKeepsWhatARMKeeps(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	created := scaleSetBody(2)
	created.Properties.PlatformFaultDomainCount = to.Ptr[int32](3)
	created.Zones = []*string{to.Ptr("1"), to.Ptr("2")}
	b, _ := json.Marshal(created)
	if rec := do(h, "PUT", fuzzBase+"web", b); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		status int
		check  func(t *testing.T, got map[string]any)
	}{
		{"image reference left out (az vmss update)", func(m map[string]any) {
			delete(obj(m, "properties", "virtualMachineProfile", "storageProfile"), "imageReference")
			obj(m, "properties", "upgradePolicy")["automaticOSUpgradePolicy"] = map[string]any{"enableAutomaticOSUpgrade": true}
			obj(m, "properties", "upgradePolicy")["mode"] = "Rolling"
		}, 200, func(t *testing.T, got map[string]any) {
			ir := obj(got, "properties", "virtualMachineProfile", "storageProfile", "imageReference")
			if ir["offer"] != "UbuntuServer" || ir["sku"] != ubuntuSKU {
				t.Fatalf("image reference %v, want the stored one", ir)
			}
			if obj(got, "properties", "upgradePolicy", "automaticOSUpgradePolicy")["enableAutomaticOSUpgrade"] != true {
				t.Fatal("the update itself was not applied")
			}
		}},
		{"storage, OS profile, fault domains, zones and sku left out", func(m map[string]any) {
			vp := obj(m, "properties", "virtualMachineProfile")
			delete(vp, "storageProfile")
			delete(vp, "osProfile")
			delete(obj(m, "properties"), "platformFaultDomainCount")
			delete(m, "zones")
			delete(m, "sku")
		}, 200, func(t *testing.T, got map[string]any) {
			if ir := obj(got, "properties", "virtualMachineProfile", "storageProfile", "imageReference"); ir["publisher"] != "Canonical" {
				t.Fatalf("image reference %v, want the stored one", ir)
			}
			if p := obj(got, "properties", "virtualMachineProfile", "osProfile"); p["computerNamePrefix"] != "web" || p["adminUsername"] != "azure" {
				t.Fatalf("osProfile %v, want the stored one", p)
			}
			if n := obj(got, "properties")["platformFaultDomainCount"]; n != 3.0 {
				t.Fatalf("platformFaultDomainCount %v, want the stored 3", n)
			}
			if z, _ := got["zones"].([]any); len(z) != 2 {
				t.Fatalf("zones %v, want the stored two", got["zones"])
			}
			if c := obj(got, "sku")["capacity"]; c != 2.0 {
				t.Fatalf("sku.capacity %v, want the stored 2", c)
			}
		}},
		{"upgrade policy left out is replaced, as ARM does", func(m map[string]any) {
			delete(obj(m, "properties"), "upgradePolicy")
		}, 200, func(t *testing.T, got map[string]any) {
			up := obj(got, "properties", "upgradePolicy")
			if up["mode"] != "Manual" || obj(up, "automaticOSUpgradePolicy")["enableAutomaticOSUpgrade"] != false {
				t.Fatalf("upgradePolicy %v, want the defaults", up)
			}
		}},
		{"a given image reference replaces the stored one whole", func(m map[string]any) {
			obj(m, "properties", "virtualMachineProfile", "storageProfile")["imageReference"] = map[string]any{"publisher": "Canonical", "offer": "UbuntuServer"}
		}, 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := docMap(t, created)
			tc.edit(body)
			b, _ := json.Marshal(body)
			rec := do(h, "PUT", fuzzBase+"web", b)
			if rec.Code != tc.status {
				t.Fatalf("PUT: %d %s", rec.Code, rec.Body.String())
			}
			if tc.check == nil {
				checkRefusal(t, rec)
				return
			}
			get := do(h, "GET", fuzzBase+"web", nil)
			tc.check(t, docMap(t, json.RawMessage(get.Body.Bytes())))
		})
	}
	// A create has nothing to keep: the image reference is required.
	body := docMap(t, created)
	delete(obj(body, "properties", "virtualMachineProfile", "storageProfile"), "imageReference")
	b, _ = json.Marshal(body)
	if rec := do(h, "PUT", fuzzBase+"new", b); rec.Code != http.StatusBadRequest {
		t.Fatalf("create without an image reference: %d %s", rec.Code, rec.Body.String())
	}
}

// TestManualUpgradeAllInstances: instanceIds ["*"] is every instance.
func TestManualUpgradeAllInstances(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ids    []string
		want   []int
		target string
	}{
		{"star", []string{"*"}, []int{0, 1, 2}, ""},
		{"ids", []string{"2", "0"}, []int{2, 0}, ""},
		{"star among ids", []string{"1", "*"}, nil, "instanceIds[1]"},
		{"out of range", []string{"3"}, nil, "instanceIds[0]"},
		{"not a number", []string{"one"}, nil, "instanceIds[0]"},
		{"leading zero", []string{"01"}, nil, "instanceIds[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := instanceIDs(tc.ids, "web", 3)
			if tc.target != "" {
				if err == nil || err.Status != 400 || err.Target != tc.target {
					t.Fatalf("err %v, want 400 on %s", err, tc.target)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	// Through the API: after a model change, the manual upgrade brings
	// every instance to the latest model.
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	createSet(t, h, "web", 3)
	changed := scaleSetBody(3)
	changed.Properties.VirtualMachineProfile.ExtensionProfile.Extensions[1].Properties.Settings = map[string]any{"fileUris": []any{"https://store.example/c/setup-v2.sh"}}
	b, _ := json.Marshal(changed)
	if rec := do(h, "PUT", fuzzBase+"web", b); rec.Code != http.StatusOK {
		t.Fatalf("update: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(h, "POST", fuzzBase+"web/manualupgrade", []byte(`{"instanceIds":["*","0"]}`)); rec.Code != http.StatusBadRequest {
		t.Fatalf("manualupgrade *,0: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(h, "POST", fuzzBase+"web/manualupgrade", []byte(`{"instanceIds":["*"]}`)); rec.Code != http.StatusAccepted {
		t.Fatalf("manualupgrade *: %d %s", rec.Code, rec.Body.String())
	}
	e.advance(2 * time.Minute)
	var vms struct {
		Value []armVM `json:"value"`
	}
	if err := json.Unmarshal(do(h, "GET", fuzzBase+"web/virtualMachines", nil).Body.Bytes(), &vms); err != nil || len(vms.Value) != 3 {
		t.Fatalf("list VMs: %v %+v", err, vms)
	}
	for _, vm := range vms.Value {
		if !vm.Properties.LatestModelApplied {
			t.Fatalf("VM %s is not on the latest model after manualupgrade [*]", vm.InstanceID)
		}
	}
}
