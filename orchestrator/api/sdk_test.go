package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

const (
	testToken = "test-token-0123456789abcdef0123456789"
	testSub   = "00000000-0000-0000-0000-000000000001"
	testRG    = "rg-test"
	ubuntuSKU = "18.04-LTS"
)

// fixedToken is a TokenCredential that always returns the same token.
type fixedToken string

func (f fixedToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(f), ExpiresOn: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

// env is one in-process server on a virtual clock, reached over TLS by the
// official SDK.
type env struct {
	t   testing.TB
	ctx context.Context
	srv *Server
	ts  *httptest.Server
}

func newEnv(t testing.TB, dir string) *env {
	t.Helper()
	ctx := context.Background()
	srv, err := Open(ctx, Options{DataDir: dir, Clock: "virtual", Token: testToken, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.StartTLS()
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return &env{t: t, ctx: ctx, srv: srv, ts: ts}
}

func clientOptions(url string, transport policy.Transporter, apiVersion string) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: url + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: url},
		}},
		Transport:  transport,
		APIVersion: apiVersion,
		Retry:      policy.RetryOptions{MaxRetries: -1},
	}}
}

// credential is the SDK's stock service-principal credential for the
// server's service principal: tenant "adfs" (the authority
// https://HOST/adfs, no instance discovery), or the tenant's id with
// instance discovery turned off.
func (e *env) credential(tenant, secret string) *azidentity.ClientSecretCredential {
	e.t.Helper()
	sp := e.srv.ServicePrincipal()
	if secret == "" {
		secret = sp.ClientSecret
	}
	cred, err := azidentity.NewClientSecretCredential(tenant, sp.ClientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.ts.URL + "/"},
			Transport: e.ts.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return cred
}

// spFactory is a client factory signed in as the service principal.
func (e *env) spFactory(tenant, apiVersion string) *armcompute.ClientFactory {
	e.t.Helper()
	f, err := armcompute.NewClientFactory(testSub, e.credential(tenant, ""), clientOptions(e.ts.URL, e.ts.Client(), apiVersion))
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

func (e *env) factory(token, apiVersion string) *armcompute.ClientFactory {
	e.t.Helper()
	f, err := armcompute.NewClientFactory(testSub, fixedToken(token), clientOptions(e.ts.URL, e.ts.Client(), apiVersion))
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// emulator calls an /osupgrade/ endpoint, which the SDK does not cover.
func (e *env) emulator(method, path string, body any) *http.Response {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (e *env) publish(version string) {
	e.t.Helper()
	resp := e.emulator("POST", "/osupgrade/images", map[string]string{"image": "Canonical:UbuntuServer:" + ubuntuSKU, "version": version})
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("publish %s: %s", version, resp.Status)
	}
}

func (e *env) advance(d time.Duration) {
	e.t.Helper()
	if _, err := e.srv.AdvanceClock(e.ctx, e.srv.Now().Add(d)); err != nil {
		e.t.Fatal(err)
	}
}

// pollWithClock drives a poller to its end, moving the virtual clock between
// polls: the rollout progresses only when time passes.
func pollWithClock[T any](e *env, p *runtime.Poller[T], step time.Duration) (T, error) {
	e.t.Helper()
	for i := 0; !p.Done(); i++ {
		if i > 1000 {
			e.t.Fatal("operation did not finish after 1000 clock steps")
		}
		e.advance(step)
		if _, err := p.Poll(e.ctx); err != nil {
			var zero T
			return zero, err
		}
	}
	return p.Result(e.ctx)
}

func scaleSetBody(capacity int64, extraExt ...*armcompute.VirtualMachineScaleSetExtension) armcompute.VirtualMachineScaleSet {
	exts := []*armcompute.VirtualMachineScaleSetExtension{{
		Name: to.Ptr("health"),
		Properties: &armcompute.VirtualMachineScaleSetExtensionProperties{
			Publisher: to.Ptr("Microsoft.ManagedServices"), Type: to.Ptr("ApplicationHealthLinux"), TypeHandlerVersion: to.Ptr("1.0"),
			Settings: map[string]any{"protocol": "http", "port": 80, "requestPath": "/health"},
		},
	}, {
		Name: to.Ptr("setup"),
		Properties: &armcompute.VirtualMachineScaleSetExtensionProperties{
			Publisher: to.Ptr("Microsoft.Azure.Extensions"), Type: to.Ptr("CustomScript"), TypeHandlerVersion: to.Ptr("2.1"),
			Settings:                 map[string]any{"fileUris": []any{"https://store.example/c/setup.sh"}},
			ProtectedSettings:        map[string]any{"commandToExecute": "sh setup.sh --password hunter2"},
			ProvisionAfterExtensions: []*string{to.Ptr("health")},
		},
	}}
	exts = append(exts, extraExt...)
	return armcompute.VirtualMachineScaleSet{
		Location: to.Ptr("eastus"),
		SKU:      &armcompute.SKU{Name: to.Ptr("Standard_B1s"), Capacity: to.Ptr(capacity)},
		Tags:     map[string]*string{tagBootTime: to.Ptr("30s")},
		Properties: &armcompute.VirtualMachineScaleSetProperties{
			UpgradePolicy: &armcompute.UpgradePolicy{Mode: to.Ptr(armcompute.UpgradeModeAutomatic)},
			VirtualMachineProfile: &armcompute.VirtualMachineScaleSetVMProfile{
				OSProfile: &armcompute.VirtualMachineScaleSetOSProfile{ComputerNamePrefix: to.Ptr("web"), AdminUsername: to.Ptr("azure"), AdminPassword: to.Ptr("S3cret!pass")},
				StorageProfile: &armcompute.VirtualMachineScaleSetStorageProfile{ImageReference: &armcompute.ImageReference{
					Publisher: to.Ptr("Canonical"), Offer: to.Ptr("UbuntuServer"), SKU: to.Ptr(ubuntuSKU), Version: to.Ptr("latest"),
				}},
				ExtensionProfile: &armcompute.VirtualMachineScaleSetExtensionProfile{Extensions: exts},
			},
		},
	}
}

func listVMs(t *testing.T, c *armcompute.VirtualMachineScaleSetVMsClient, name string) []*armcompute.VirtualMachineScaleSetVM {
	t.Helper()
	var out []*armcompute.VirtualMachineScaleSetVM
	pager := c.NewListPager(testRG, name, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Value...)
	}
	return out
}

func responseError(t *testing.T, err error, status int) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want an ARM error with status %d, got %v", status, err)
	}
	if re.StatusCode != status {
		t.Fatalf("status %d, want %d: %v", re.StatusCode, status, err)
	}
	return re
}

func TestSDKLifecycle(t *testing.T) {
	e := newEnv(t, t.TempDir())
	f := e.spFactory("adfs", "")
	sets, vms, rolling := f.NewVirtualMachineScaleSetsClient(), f.NewVirtualMachineScaleSetVMsClient(), f.NewVirtualMachineScaleSetRollingUpgradesClient()
	ctx := e.ctx
	fast := &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}

	// R-HIST-2: the built-in catalog lists three dated versions.
	imgs, err := f.NewVirtualMachineImagesClient().List(ctx, "eastus", "Canonical", "UbuntuServer", ubuntuSKU, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs.VirtualMachineImageResourceArray) != 3 {
		t.Fatalf("built-in versions = %d, want 3", len(imgs.VirtualMachineImageResourceArray))
	}
	initial := *imgs.VirtualMachineImageResourceArray[2].Name

	// Create: an LRO the SDK's poller completes.
	poller, err := sets.BeginCreateOrUpdate(ctx, testRG, "web", scaleSetBody(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := poller.PollUntilDone(ctx, fast)
	if err != nil {
		t.Fatal(err)
	}
	if *created.Properties.ProvisioningState != "Succeeded" || *created.SKU.Capacity != 10 {
		t.Fatalf("created: %+v", created.Properties)
	}
	raw, _ := json.Marshal(created.VirtualMachineScaleSet)
	for _, secret := range []string{"hunter2", "S3cret!pass", "protectedSettings"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the resource returns write-only data %q: %s", secret, raw)
		}
	}

	// R-REQ-1 violation: nothing applied, 400 names the property.
	bad := scaleSetBody(10)
	bad.Properties.UpgradePolicy.AutomaticOSUpgradePolicy = &armcompute.AutomaticOSUpgradePolicy{EnableAutomaticOSUpgrade: to.Ptr(true)}
	bad.Properties.VirtualMachineProfile.StorageProfile.ImageReference.Version = to.Ptr(initial)
	_, err = sets.BeginCreateOrUpdate(ctx, testRG, "web", bad, nil)
	re := responseError(t, err, 400)
	if !strings.Contains(err.Error(), "imageReference.version") || re.ErrorCode != "InvalidParameter" {
		t.Fatalf("R-REQ-1 error does not name the property: %v", err)
	}
	got, err := sets.Get(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Properties.UpgradePolicy.AutomaticOSUpgradePolicy.EnableAutomaticOSUpgrade || *got.Properties.VirtualMachineProfile.StorageProfile.ImageReference.Version != "latest" {
		t.Fatal("a refused PUT changed the scale set")
	}

	// R-REQ-3: an old api-version cannot enable automatic OS upgrade.
	old := e.factory(testToken, "2018-06-01").NewVirtualMachineScaleSetsClient()
	_, err = old.BeginUpdate(ctx, testRG, "web", armcompute.VirtualMachineScaleSetUpdate{Properties: &armcompute.VirtualMachineScaleSetUpdateProperties{
		UpgradePolicy: &armcompute.UpgradePolicy{AutomaticOSUpgradePolicy: &armcompute.AutomaticOSUpgradePolicy{EnableAutomaticOSUpgrade: to.Ptr(true)}},
	}}, nil)
	if re := responseError(t, err, 400); !strings.Contains(re.Error(), "R-REQ-3") || !strings.Contains(re.Error(), "api-version") {
		t.Fatalf("R-REQ-3 error: %v", err)
	}

	// Update the policy (PATCH, an LRO).
	up, err := sets.BeginUpdate(ctx, testRG, "web", armcompute.VirtualMachineScaleSetUpdate{Properties: &armcompute.VirtualMachineScaleSetUpdateProperties{
		UpgradePolicy: &armcompute.UpgradePolicy{
			AutomaticOSUpgradePolicy: &armcompute.AutomaticOSUpgradePolicy{EnableAutomaticOSUpgrade: to.Ptr(true)},
			RollingUpgradePolicy:     &armcompute.RollingUpgradePolicy{MaxBatchInstancePercent: to.Ptr(int32(20)), PauseTimeBetweenBatches: to.Ptr("PT0S")},
		},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := up.PollUntilDone(ctx, fast)
	if err != nil {
		t.Fatal(err)
	}
	if !*updated.Properties.UpgradePolicy.AutomaticOSUpgradePolicy.EnableAutomaticOSUpgrade || len(updated.Properties.VirtualMachineProfile.ExtensionProfile.Extensions) != 2 {
		t.Fatalf("PATCH did not merge: %+v", updated.Properties.UpgradePolicy)
	}
	list, err := sets.NewListPager(testRG, nil).NextPage(ctx)
	if err != nil || len(list.Value) != 1 || *list.Value[0].Name != "web" {
		t.Fatalf("list per resource group = %+v, %v", list.Value, err)
	}

	// VMs: ten, on the newest built-in version, on the latest model.
	all := listVMs(t, vms, "web")
	if len(all) != 10 {
		t.Fatalf("VMs = %d, want 10", len(all))
	}
	for _, vm := range all {
		if *vm.Properties.StorageProfile.ImageReference.ExactVersion != initial || !*vm.Properties.LatestModelApplied || *vm.Properties.ProvisioningState != "Succeeded" {
			t.Fatalf("VM %s: version %s latestModelApplied %v", *vm.InstanceID, *vm.Properties.StorageProfile.ImageReference.ExactVersion, *vm.Properties.LatestModelApplied)
		}
	}

	// Manual OS upgrade to a newly published version (R-TRIG-3), polled to
	// completion while the virtual clock moves.
	e.publish("18.04.202601010")
	start, err := rolling.BeginStartOSUpgrade(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pollWithClock(e, start, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, vm := range listVMs(t, vms, "web") {
		if v := *vm.Properties.StorageProfile.ImageReference.ExactVersion; v != "18.04.202601010" {
			t.Fatalf("VM %s on %s after the upgrade", *vm.InstanceID, v)
		}
	}
	latest, err := rolling.GetLatest(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *latest.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeCompleted || *latest.Properties.Progress.SuccessfulInstanceCount != 10 {
		t.Fatalf("latest: %s, %d successful", *latest.Properties.RunningStatus.Code, *latest.Properties.Progress.SuccessfulInstanceCount)
	}

	// Cancel a rollout in its first batch (R-TRIG-4): the batch finishes,
	// no other starts, the trigger's operation ends Canceled.
	e.publish("18.04.202602010")
	start, err = rolling.BeginStartOSUpgrade(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.advance(10 * time.Second)
	cancel, err := rolling.BeginCancel(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pollWithClock(e, cancel, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := pollWithClock(e, start, 30*time.Second); err == nil {
		t.Fatal("the cancelled upgrade's poller reported success")
	}
	latest, _ = rolling.GetLatest(ctx, testRG, "web", nil)
	if *latest.Properties.RunningStatus.Code != armcompute.RollingUpgradeStatusCodeCancelled || *latest.Properties.Progress.SuccessfulInstanceCount != 2 {
		t.Fatalf("after cancel: %s with %d upgraded, want Cancelled after one batch of 2", *latest.Properties.RunningStatus.Code, *latest.Properties.Progress.SuccessfulInstanceCount)
	}
	// R-TRIG-5: a manual trigger starts the next rollout.
	start, _ = rolling.BeginStartOSUpgrade(ctx, testRG, "web", nil)
	if _, err := pollWithClock(e, start, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// History (R-HIST-1): three attempts, newest first, over two pages.
	var codes []string
	pages := 0
	hp := sets.NewGetOSUpgradeHistoryPager(testRG, "web", nil)
	for hp.More() {
		page, err := hp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, h := range page.Value {
			codes = append(codes, string(*h.Properties.RunningStatus.Code)+"/"+string(*h.Properties.StartedBy))
		}
	}
	if want := "Completed/User Cancelled/User Completed/User"; strings.Join(codes, " ") != want || pages != 2 {
		t.Fatalf("history = %v over %d pages, want %s over 2", codes, pages, want)
	}

	// R-CRED-1 recovery: a new token in the model, then manualupgrade.
	renew := scaleSetBody(10)
	renew.Properties.UpgradePolicy = updated.Properties.UpgradePolicy
	renew.Properties.VirtualMachineProfile.ExtensionProfile.Extensions[1].Properties.Settings = map[string]any{"fileUris": []any{"https://store.example/c/setup.sh?sv=2024&se=2027-01-01T00:00:00Z&sig=abc"}}
	pu, err := sets.BeginCreateOrUpdate(ctx, testRG, "web", renew, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pu.PollUntilDone(ctx, fast); err != nil {
		t.Fatal(err)
	}
	for _, vm := range listVMs(t, vms, "web") {
		if *vm.Properties.LatestModelApplied {
			t.Fatalf("VM %s claims the latest model right after the model changed", *vm.InstanceID)
		}
	}
	mu, err := sets.BeginUpdateInstances(ctx, testRG, "web", armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs{InstanceIDs: []*string{to.Ptr("0"), to.Ptr("1")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pollWithClock(e, mu, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	for _, vm := range listVMs(t, vms, "web") {
		want := *vm.InstanceID == "0" || *vm.InstanceID == "1"
		if *vm.Properties.LatestModelApplied != want {
			t.Fatalf("VM %s latestModelApplied = %v, want %v", *vm.InstanceID, *vm.Properties.LatestModelApplied, want)
		}
	}
	iv, err := vms.GetInstanceView(ctx, testRG, "web", "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *iv.VMHealth.Status.Code != "HealthState/healthy" {
		t.Fatalf("instance 0 health %s", *iv.VMHealth.Status.Code)
	}
	_, err = sets.BeginUpdateInstances(ctx, testRG, "web", armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs{InstanceIDs: []*string{to.Ptr("10")}}, nil)
	if re := responseError(t, err, 400); !strings.Contains(re.Error(), "instanceIds[0]") {
		t.Fatalf("bad instance id error: %v", err)
	}

	// Wrong token: 401 in the ARM error shape.
	_, err = e.factory("wrong", "").NewVirtualMachineScaleSetsClient().Get(ctx, testRG, "web", nil)
	if re := responseError(t, err, 401); re.ErrorCode != "InvalidAuthenticationToken" {
		t.Fatalf("401 code %s", re.ErrorCode)
	}

	// Delete: an LRO; then 404.
	del, err := sets.BeginDelete(ctx, testRG, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := del.PollUntilDone(ctx, fast); err != nil {
		t.Fatal(err)
	}
	_, err = sets.Get(ctx, testRG, "web", nil)
	responseError(t, err, 404)
}

// TestSDKServicePrincipal: azidentity's ClientSecretCredential signs in at
// both authorities; a wrong secret is Azure AD's invalid_client, which
// azidentity reports with its AADSTS code and no ARM call is made.
func TestSDKServicePrincipal(t *testing.T) {
	e := newEnv(t, t.TempDir())
	for _, tenant := range []string{"adfs", DefaultTenant} {
		pager := e.spFactory(tenant, "").NewVirtualMachineScaleSetsClient().NewListPager(testRG, nil)
		if _, err := pager.NextPage(e.ctx); err != nil {
			t.Fatalf("tenant %s: %v", tenant, err)
		}
	}
	_, err := e.credential("adfs", "wrong").GetToken(e.ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != 401 || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	_, err = e.credential("contoso", "").GetToken(e.ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
	if err == nil || !strings.Contains(err.Error(), "contoso") {
		t.Fatalf("unknown tenant: %v", err)
	}
}
