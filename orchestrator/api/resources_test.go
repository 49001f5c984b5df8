package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// armCall is one request of a table: the path carries its own query.
type armCall struct {
	method, path, body, contentType string
}

func (c armCall) do(h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkARM checks a response's status and, for an error, ARM's error shape
// and code; for a success, that the body holds want (a substring).
func checkARM(t *testing.T, rec *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	switch {
	case status >= 400 && rec.Body.Len() > 0:
		if e := armError(t, rec.Body.Bytes()); e.Code != want || e.Message == "" {
			t.Fatalf("error %+v, want code %s", e, want)
		}
	case !strings.Contains(rec.Body.String(), want):
		t.Fatalf("body does not hold %q: %s", want, rec.Body.String())
	}
}

const (
	subPath   = "/subscriptions/" + testSub
	rsrcV     = "?api-version=2019-10-01" // azure-cli 2.45, 2020-09-01-hybrid: resources
	subsV     = "?api-version=2016-06-01" // ... subscriptions
	computeV  = "?api-version=2020-06-01" // ... compute
	galleryV  = "?api-version=2019-12-01" // ... galleries
	ubuntuLoc = subPath + "/providers/Microsoft.Compute/locations/eastus/publishers"
)

// TestARMSurface drives subscriptions, tenants, locations, providers,
// resource groups and the image hierarchy, good and bad input, in order
// against one server.
func TestARMSurface(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	createSet(t, h, "web", 2) // in testRG, never created with PUT
	for _, tc := range []struct {
		name   string
		call   armCall
		status int
		want   string // a substring of the body, or the error code
	}{
		{"subscriptions", armCall{"GET", "/subscriptions" + subsV, "", ""}, 200, `"subscriptionId":"` + DefaultSubscription + `"`},
		{"subscriptions lists those in use", armCall{"GET", "/subscriptions" + subsV, "", ""}, 200, `"subscriptionId":"` + testSub + `"`},
		{"subscriptions, current azure-cli", armCall{"GET", "/subscriptions?api-version=2022-12-01", "", ""}, 200, `"state":"Enabled"`},
		{"subscriptions without api-version", armCall{"GET", "/subscriptions", "", ""}, 400, "MissingApiVersionParameter"},
		{"subscriptions, unknown api-version", armCall{"GET", "/subscriptions?api-version=2099-01-01", "", ""}, 400, "InvalidApiVersionParameter"},
		{"subscriptions, malformed api-version", armCall{"GET", "/subscriptions?api-version=last-tuesday", "", ""}, 400, "InvalidApiVersionParameter"},
		{"subscription", armCall{"GET", subPath + subsV, "", ""}, 200, `"tenantId":"` + DefaultTenant + `"`},
		{"subscription, upper case", armCall{"GET", "/SUBSCRIPTIONS/" + testSub + subsV, "", ""}, 200, `"id":"/subscriptions/` + testSub + `"`},
		{"subscription id not a GUID", armCall{"GET", "/subscriptions/not-a-guid" + subsV, "", ""}, 400, "InvalidSubscriptionId"},
		{"subscription, wrong method", armCall{"DELETE", subPath + subsV, "", ""}, 405, "MethodNotAllowed"},
		{"tenants", armCall{"GET", "/tenants" + subsV, "", ""}, 200, `"tenantId":"` + DefaultTenant + `"`},
		{"locations", armCall{"GET", subPath + "/locations" + subsV, "", ""}, 200, `"name":"eastus"`},
		{"locations have display names", armCall{"GET", subPath + "/locations" + subsV, "", ""}, 200, `"displayName":"Germany West Central"`},
		{"providers", armCall{"GET", subPath + "/providers" + rsrcV, "", ""}, 200, `"namespace":"Microsoft.Resources"`},
		{"provider, any case", armCall{"GET", subPath + "/Providers/microsoft.compute" + rsrcV, "", ""}, 200, `"registrationState":"Registered"`},
		{"provider lists the api-versions", armCall{"GET", subPath + "/providers/Microsoft.Compute" + rsrcV, "", ""}, 200, `"2020-06-01"`},
		{"provider, unknown", armCall{"GET", subPath + "/providers/Microsoft.Nope" + rsrcV, "", ""}, 404, "InvalidResourceNamespace"},
		{"register", armCall{"POST", subPath + "/providers/Microsoft.Compute/register" + rsrcV, "", ""}, 200, `"namespace":"Microsoft.Compute"`},
		{"register, wrong method", armCall{"GET", subPath + "/providers/Microsoft.Compute/register" + rsrcV, "", ""}, 405, "MethodNotAllowed"},
		{"register unknown", armCall{"POST", subPath + "/providers/Microsoft.Nope/register" + rsrcV, "", ""}, 404, "InvalidResourceNamespace"},

		{"implied group", armCall{"GET", subPath + "/resourceGroups/" + testRG + rsrcV, "", ""}, 200, `"location":"eastus"`},
		{"group create", armCall{"PUT", subPath + "/resourcegroups/Apps" + rsrcV, `{"location":"West Europe","tags":{"team":"a"}}`, "application/json"}, 201, `"location":"westeurope"`},
		{"group update keeps the first spelling", armCall{"PUT", subPath + "/resourcegroups/apps" + rsrcV, `{"location":"westeurope"}`, "application/json; charset=utf-8"}, 200, `"name":"Apps"`},
		{"group moved", armCall{"PUT", subPath + "/resourcegroups/apps" + rsrcV, `{"location":"eastus"}`, ""}, 409, "InvalidResourceGroupLocation"},
		{"group without location", armCall{"PUT", subPath + "/resourcegroups/other" + rsrcV, `{}`, ""}, 400, "LocationRequired"},
		{"group in no region", armCall{"PUT", subPath + "/resourcegroups/other" + rsrcV, `{"location":"mars"}`, ""}, 400, "LocationNotAvailableForResourceGroup"},
		{"group body not JSON", armCall{"PUT", subPath + "/resourcegroups/other" + rsrcV, `location=eastus`, "application/x-www-form-urlencoded"}, 415, "UnsupportedMediaType"},
		{"group body not an object", armCall{"PUT", subPath + "/resourcegroups/other" + rsrcV, `[]`, ""}, 400, "InvalidRequestContent"},
		{"group name invalid", armCall{"PUT", subPath + "/resourcegroups/bad." + rsrcV, `{"location":"eastus"}`, ""}, 400, "InvalidResourceGroup"},
		{"group, a compute-only api-version", armCall{"GET", subPath + "/resourcegroups/apps?api-version=2020-12-01", "", ""}, 400, "InvalidApiVersionParameter"},
		{"group get (a PUT replaced the tags)", armCall{"GET", subPath + "/RESOURCEGROUPS/APPS" + rsrcV, "", ""}, 200, `"location":"westeurope","name":"Apps","properties"`},
		{"group head", armCall{"HEAD", subPath + "/resourcegroups/apps" + rsrcV, "", ""}, 204, ""},
		{"group head, none", armCall{"HEAD", subPath + "/resourcegroups/none" + rsrcV, "", ""}, 404, ""},
		{"group get, none", armCall{"GET", subPath + "/resourcegroups/none" + rsrcV, "", ""}, 404, "ResourceGroupNotFound"},
		{"group patch", armCall{"PATCH", subPath + "/resourcegroups/apps" + rsrcV, `{}`, ""}, 405, "MethodNotAllowed"},
		{"groups", armCall{"GET", subPath + "/resourcegroups" + rsrcV, "", ""}, 200, `"name":"` + testRG + `"`},
		{"group delete, none", armCall{"DELETE", subPath + "/resourcegroups/none" + rsrcV, "", ""}, 404, "ResourceGroupNotFound"},

		{"compute, hybrid api-version", armCall{"GET", subPath + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/web" + computeV, "", ""}, 200, `"name":"web"`},
		{"compute, any case", armCall{"GET", subPath + "/resourcegroups/" + testRG + "/providers/microsoft.compute/virtualmachinescalesets/web/VIRTUALMACHINES" + computeV, "", ""}, 200, `"instanceId":"1"`},
		{"compute, resources api-version", armCall{"GET", subPath + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/web" + rsrcV, "", ""}, 400, "InvalidApiVersionParameter"},
		{"compute, wrong method", armCall{"POST", subPath + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/web" + computeV, "{}", ""}, 405, "MethodNotAllowed"},
		{"compute, text body", armCall{"PATCH", subPath + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/web" + computeV, "{}", "text/plain"}, 415, "UnsupportedMediaType"},
		{"galleries, hybrid api-version", armCall{"GET", subPath + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/galleries" + galleryV, "", ""}, 200, `"value":[]`},
		{"gallery, none", armCall{"GET", subPath + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/galleries/gal" + galleryV, "", ""}, 404, "ResourceNotFound"},

		{"publishers", armCall{"GET", ubuntuLoc + computeV, "", ""}, 200, `"name":"Canonical"`},
		{"publishers, unknown region", armCall{"GET", subPath + "/providers/Microsoft.Compute/locations/mars/publishers" + computeV, "", ""}, 404, "NoRegisteredProviderFound"},
		{"offers", armCall{"GET", ubuntuLoc + "/canonical/artifacttypes/vmimage/offers" + computeV, "", ""}, 200, `"name":"UbuntuServer"`},
		{"offers, any case", armCall{"GET", ubuntuLoc + "/Canonical/ArtifactTypes/VMImage/Offers" + computeV, "", ""}, 200, `/Publishers/Canonical/ArtifactTypes/VMImage/Offers/UbuntuServer"`},
		{"offers, unknown publisher", armCall{"GET", ubuntuLoc + "/Nobody/artifacttypes/vmimage/offers" + computeV, "", ""}, 404, "NotFound"},
		{"skus", armCall{"GET", ubuntuLoc + "/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus" + computeV, "", ""}, 200, `"name":"18.04-LTS"`},
		{"skus say automatic OS upgrade", armCall{"GET", ubuntuLoc + "/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus" + computeV, "", ""}, 200, `"automaticOSUpgradeSupported":true`},
		{"skus, unknown offer", armCall{"GET", ubuntuLoc + "/Canonical/artifacttypes/vmimage/offers/Nothing/skus" + computeV, "", ""}, 404, "NotFound"},
		{"versions", armCall{"GET", ubuntuLoc + "/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus/18.04-LTS/versions" + computeV, "", ""}, 200, `"name":"18.04.202511120"`},
		{"versions, properties expanded", armCall{"GET", ubuntuLoc + "/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus/18.04-LTS/versions?$expand=properties&api-version=2020-06-01", "", ""}, 200, `"architecture":"x64"`},
		{"version", armCall{"GET", ubuntuLoc + "/canonical/ARTIFACTTYPES/vmimage/offers/ubuntuserver/skus/18.04-lts/versions/18.04.202511120" + computeV, "", ""}, 200, `"operatingSystem":"Linux"`},
		{"publishers, wrong method", armCall{"PUT", ubuntuLoc + computeV, "{}", ""}, 405, "MethodNotAllowed"},
		{"no such resource", armCall{"GET", subPath + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/disks" + computeV, "", ""}, 404, "NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.call.do(h)
			checkARM(t, rec, tc.status, tc.want)
			if rec.Code == 405 && rec.Header().Get("Allow") == "" {
				t.Fatal("405 without an Allow header")
			}
		})
	}
}

// TestAPIVersionsOfClients: every api-version the tested clients send for
// a family is accepted, and the error for another lists them.
func TestAPIVersionsOfClients(t *testing.T) {
	for _, tc := range []struct {
		client, path string
		versions     []string
	}{
		{"azure-cli 2.45 hybrid", subPath + "/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/s", []string{"2020-06-01"}},
		{"azure-cli 2.45 hybrid", subPath + "/resourceGroups/g/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0", []string{"2019-12-01"}},
		{"azure-cli 2.45 hybrid", subPath + "/resourcegroups/g", []string{"2019-10-01"}},
		{"azure-cli 2.45 hybrid", "/subscriptions", []string{"2016-06-01"}},
		{"azure-cli 2.45 hybrid", subPath + "/resourceGroups/g/providers/Microsoft.Network/virtualNetworks", []string{"2018-11-01"}},
		{"azure-cli 2.45 latest", subPath + "/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/s", []string{"2022-11-01"}},
		{"azure-cli 2.45 latest", subPath + "/resourceGroups/g/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0", []string{"2022-03-03", "2021-10-01"}},
		{"azure-cli 2.45 latest", subPath + "/providers/Microsoft.Compute/register", []string{"2021-04-01"}},
		{"azure-cli current", subPath + "/providers/Microsoft.Compute/locations/eastus/publishers", []string{"2024-11-01", "2025-04-01"}},
		{"azure-cli current", subPath + "/resourceGroups/g/providers/Microsoft.Compute/galleries/g", []string{"2021-10-01", "2024-03-03"}},
		{"azure-cli current", subPath, []string{"2022-12-01", "2024-11-01"}},
		{"armcompute v6.4.0", subPath + "/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/s/osRollingUpgrade", []string{"2024-11-01"}},
		{"armcompute v6.4.0", subPath + "/resourceGroups/g/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0", []string{"2024-03-03"}},
		{"python3-azure (Debian)", subPath + "/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/s", []string{"2022-08-01"}},
		{"python3-azure (Debian)", subPath + "/resourceGroups/g/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0", []string{"2022-03-03"}},
		{"python3-azure (Debian)", subPath + "/resourcegroups/g", []string{"2022-09-01"}},
		{"python3-azure (Debian)", "/subscriptions", []string{"2021-01-01"}},
		{"R-REQ-3's refusal stays reachable", subPath + "/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/s", []string{"2018-06-01"}},
	} {
		for _, v := range tc.versions {
			r := httptest.NewRequest("GET", tc.path+"?api-version="+v, nil)
			if err := checkAPIVersion(r); err != nil {
				t.Errorf("%s: %s?api-version=%s refused: %v", tc.client, tc.path, v, err)
			}
		}
		r := httptest.NewRequest("GET", tc.path+"?api-version=2001-01-01", nil)
		err := checkAPIVersion(r)
		if err == nil || err.Code != "InvalidApiVersionParameter" || err.Status != 400 || !strings.Contains(err.Message, tc.versions[0]) {
			t.Errorf("%s: 2001-01-01 on %s: %v, want 400 InvalidApiVersionParameter listing %s", tc.client, tc.path, err, tc.versions[0])
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/subscriptions/S/resourcegroups/RG/providers/microsoft.compute/virtualmachinescalesets/Web", "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/Web"},
		// Names stay as given, even when they spell a key.
		{"/SUBSCRIPTIONS/S/RESOURCEGROUPS/Versions/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/Latest/ROLLINGUPGRADES/LATEST", "/subscriptions/S/resourceGroups/Versions/providers/Microsoft.Compute/virtualMachineScaleSets/Latest/rollingUpgrades/latest"},
		{"/subscriptions/S/providers/Microsoft.Compute/Locations/eastus/Publishers/Canonical/ArtifactTypes/VMImage/Offers/UbuntuServer/Skus/18.04-LTS/Versions/1", "/subscriptions/S/providers/Microsoft.Compute/locations/eastus/publishers/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus/18.04-LTS/versions/1"},
		{"/subscriptions/S/providers/microsoft.compute/REGISTER", "/subscriptions/S/providers/Microsoft.Compute/register"},
		{"/subscriptions/S/providers/Contoso.Widgets/things", "/subscriptions/S/providers/Contoso.Widgets/things"},
		{"/Tenants", "/tenants"},
		{"/osupgrade/Clock", "/osupgrade/Clock"},
		{"/subscriptions/S/resourceGroups/a%2Fb/providers", "/subscriptions/S/resourceGroups/a%2Fb/providers"},
		{"", ""},
	} {
		if got := canonicalPath(tc.in); got != tc.want {
			t.Errorf("canonicalPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDeleteGroupDeletesItsSets: deleting a group is a long-running
// operation that deletes its scale sets, and no other group's.
func TestDeleteGroupDeletesItsSets(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	checkARM(t, armCall{"PUT", subPath + "/resourcegroups/" + testRG + rsrcV, `{"location":"eastus"}`, "application/json"}.do(h), 201, testRG)
	createSet(t, h, "web", 2)
	createSet(t, h, "api", 1)
	other := subPath + "/resourceGroups/keep/providers/Microsoft.Compute/virtualMachineScaleSets/db"
	b, _ := json.Marshal(scaleSetBody(1))
	if rec := do(h, "PUT", other, b); rec.Code != http.StatusCreated {
		t.Fatalf("create db: %d %s", rec.Code, rec.Body.String())
	}
	rec := armCall{"DELETE", subPath + "/resourceGroups/" + testRG + rsrcV, "", ""}.do(h)
	if rec.Code != http.StatusAccepted || rec.Header().Get("Location") == "" || rec.Header().Get("Azure-AsyncOperation") == "" {
		t.Fatalf("delete group: %d, headers %v", rec.Code, rec.Header())
	}
	if !strings.Contains(rec.Header().Get("Location"), "/operationresults/") || !strings.Contains(rec.Header().Get("Location"), "api-version=2019-10-01") {
		t.Fatalf("Location %q: want the subscription's operationresults with the request's api-version", rec.Header().Get("Location"))
	}
	if st := opStatus(t, h, rec.Header().Get("Azure-AsyncOperation")); st.Status != statusSucceeded {
		t.Fatalf("operation %+v, want Succeeded", st)
	}
	for _, name := range []string{"web", "api"} {
		checkARM(t, do(h, "GET", fuzzBase+name, nil), 404, "ResourceNotFound")
	}
	checkARM(t, do(h, "GET", other, nil), 200, `"name":"db"`)
	checkARM(t, armCall{"GET", subPath + "/resourceGroups/" + testRG + rsrcV, "", ""}.do(h), 404, "ResourceGroupNotFound")
	if got := e.srv.Orchestrator().ScaleSets(); !slices.Equal(got, []string{"db"}) {
		t.Fatalf("orchestrator holds %v, want [db]", got)
	}
	// The implied group of db is deleted with it too.
	checkARM(t, armCall{"DELETE", subPath + "/resourceGroups/KEEP" + rsrcV, "", ""}.do(h), 202, "")
	checkARM(t, armCall{"HEAD", subPath + "/resourceGroups/keep" + rsrcV, "", ""}.do(h), 404, "")
}

// TestGroupsSurviveRestart: a created group is in state.db.
func TestGroupsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := openCrashServer(t, dir)
	checkARM(t, armCall{"PUT", subPath + "/resourcegroups/kept" + rsrcV, `{"location":"uksouth"}`, ""}.do(s.Handler()), 201, "uksouth")
	s.Close()
	s = openCrashServer(t, dir)
	checkARM(t, armCall{"GET", subPath + "/resourcegroups/kept" + rsrcV, "", ""}.do(s.Handler()), 200, `"location":"uksouth"`)
}
