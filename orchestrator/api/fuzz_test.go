package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const fuzzBase = "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/"

func validBody(t testing.TB) []byte {
	b, err := json.Marshal(scaleSetBody(4))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fuzzSeeds(f *testing.F) {
	f.Add(validBody(f))
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"location":"eastus"}`, `{"location":"eastus","sku":{"capacity":"ten"}}`,
		`{"location":"eastus","sku":{"capacity":-1},"properties":{}}`,
		`{"location":"eastus","sku":{"capacity":3},"properties":{"upgradePolicy":{"mode":"Sometimes"}}}`,
		`{"location":"eastus","sku":{"capacity":3},"properties":{"upgradePolicy":{"rollingUpgradePolicy":{"pauseTimeBetweenBatches":"1 minute"}}}}`,
		`{"location":"eastus","sku":{"capacity":3},"properties":{"virtualMachineProfile":{"storageProfile":{"imageReference":{"id":"/images/custom"}}}}}`,
		`{"location":"eastus","sku":{"capacity":3},"properties":{"virtualMachineProfile":{"storageProfile":{"imageReference":{"publisher":"Canonical","offer":"UbuntuServer","sku":"18.04-LTS"}},"extensionProfile":{"extensions":[{"name":"a","properties":{"type":"x","provisionAfterExtensions":["a"]}}]}}}}`,
		`{"location":"eastus","tags":{"osupgrade.bootTime":"soon"},"sku":{"capacity":3},"properties":{}}`,
		`{"location":"eastus"} trailing`, `{"location":`, `{"zones":[1,2]}`,
	} {
		f.Add([]byte(s))
	}
}

// checkRefusal asserts an ARM 4xx whose message names the problem.
func checkRefusal(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d (a server error) for bad input: %s", rec.Code, rec.Body.String())
	}
	var eb errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
		t.Fatalf("status %d without an ARM error body: %s", rec.Code, rec.Body.String())
	}
	if eb.Error.Target == "" && !strings.Contains(eb.Error.Message, "body") && !strings.Contains(eb.Error.Message, "JSON") {
		t.Fatalf("error names neither a property nor the body: %+v", eb.Error)
	}
}

func do(h http.Handler, method, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path+"?api-version=2024-11-01", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzPutScaleSet: any body is either a created scale set or a 4xx that
// names the problem, and a refused one leaves no trace.
func FuzzPutScaleSet(f *testing.F) {
	fuzzSeeds(f)
	e := newEnv(f, f.TempDir())
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := do(h, "PUT", fuzzBase+"fz", body)
		if rec.Code == http.StatusCreated {
			if d := do(h, "DELETE", fuzzBase+"fz", nil); d.Code != http.StatusAccepted {
				t.Fatalf("delete after a fuzzed create: %d %s", d.Code, d.Body.String())
			}
			return
		}
		checkRefusal(t, rec)
		if g := do(h, "GET", fuzzBase+"fz", nil); g.Code != http.StatusNotFound {
			t.Fatalf("a refused create left a scale set behind: %d %s", g.Code, g.Body.String())
		}
		if _, ok := e.srv.o.ScaleSet("fz"); ok {
			t.Fatal("a refused create left a model in the orchestrator")
		}
	})
}

// FuzzPatchScaleSet: a refused PATCH changes nothing, byte for byte.
func FuzzPatchScaleSet(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte(`{"properties":{"upgradePolicy":{"automaticOSUpgradePolicy":{"enableAutomaticOSUpgrade":true}}}}`))
	f.Add([]byte(`{"sku":{"capacity":9}}`))
	f.Add([]byte(`{"location":"westus"}`))
	e := newEnv(f, f.TempDir())
	h := e.srv.Handler()
	if rec := do(h, "PUT", fuzzBase+"base", validBody(f)); rec.Code != http.StatusCreated {
		f.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := do(h, "GET", fuzzBase+"base", nil).Body.String()
		rec := do(h, "PATCH", fuzzBase+"base", body)
		if rec.Code == http.StatusOK {
			// Put the original back for the next input.
			if r := do(h, "PUT", fuzzBase+"base", validBody(t)); r.Code != http.StatusOK {
				t.Fatalf("restore: %d %s", r.Code, r.Body.String())
			}
			return
		}
		checkRefusal(t, rec)
		if after := do(h, "GET", fuzzBase+"base", nil).Body.String(); after != before {
			t.Fatalf("a refused PATCH changed the scale set:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// FuzzDecodeModel exercises the ARM-to-model conversion alone.
func FuzzDecodeModel(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc armVMSS
		if err := decodeJSON(body, &doc); err != nil {
			if err.Status != 400 && err.Status != 413 || err.Message == "" {
				t.Fatalf("decode error %+v", err)
			}
			return
		}
		if _, err := toModel(&doc, "x", "2024-11-01", nil); err != nil && (err.Status != 400 || err.Target == "" || err.Message == "") {
			t.Fatalf("conversion error without a property: %+v", err)
		}
	})
}
