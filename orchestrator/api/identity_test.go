package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// wallClock is a settable wall clock for token expiry.
type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wallClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *wallClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openIdentityServer(t *testing.T, dir string, wall *wallClock) *Server {
	t.Helper()
	srv, err := Open(context.Background(), Options{DataDir: dir, Clock: "virtual", Token: testToken, Seed: 1, WallNow: wall.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// tokenRequest posts a token request form to path (the host is
// example.com, as httptest's requests have).
func tokenRequest(h http.Handler, path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func aadErr(t *testing.T, rec *httptest.ResponseRecorder) aadErrorBody {
	t.Helper()
	var b aadErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == "" || b.ErrorDescription == "" || b.TraceID == "" || b.Timestamp == "" {
		t.Fatalf("not an Azure AD error body: %q", rec.Body.String())
	}
	return b
}

func TestTokenEndpoint(t *testing.T) {
	wall := &wallClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	srv := openIdentityServer(t, t.TempDir(), wall)
	h := srv.Handler()
	sp := srv.ServicePrincipal()
	good := func(extra ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {sp.ClientID}, "client_secret": {sp.ClientSecret}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return v
	}
	const azScope = "https://management.core.windows.net//.default" // az: resource + "/.default"
	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		errCode    string
		aadsts     int
		audience   string
	}{
		{"az's scope", "/adfs/oauth2/token", good("scope", azScope), 200, "", 0, "https://management.core.windows.net/"},
		{"python's default scope", "/adfs/oauth2/token", good("scope", "https://management.azure.com/.default"), 200, "", 0, "https://management.azure.com/"},
		{"with OpenID scopes", "/adfs/oauth2/token", good("scope", azScope+" openid offline_access profile"), 200, "", 0, "https://management.core.windows.net/"},
		{"ADFS resource", "/adfs/oauth2/token", good("resource", "https://management.core.windows.net/"), 200, "", 0, "https://management.core.windows.net/"},
		{"tenant v2 path", "/" + identityTenantID + "/oauth2/v2.0/token", good("scope", azScope), 200, "", 0, "https://management.core.windows.net/"},
		{"tenant path, upper case", "/" + strings.ToUpper(identityTenantID) + "/OAuth2/v2.0/Token", good("scope", azScope), 200, "", 0, "https://management.core.windows.net/"},
		{"double slash", "//adfs/oauth2/token", good("scope", azScope), 200, "", 0, "https://management.core.windows.net/"},
		{"wrong secret", "/adfs/oauth2/token", good("scope", azScope, "client_secret", "nope"), 401, "invalid_client", 7000215, ""},
		{"no secret", "/adfs/oauth2/token", good("scope", azScope, "client_secret", ""), 401, "invalid_client", 7000216, ""},
		{"unknown client", "/adfs/oauth2/token", good("scope", azScope, "client_id", "11111111-2222-3333-4444-555555555555"), 400, "unauthorized_client", 700016, ""},
		{"no client", "/adfs/oauth2/token", good("scope", azScope, "client_id", ""), 400, "invalid_request", 900144, ""},
		{"no grant", "/adfs/oauth2/token", good("scope", azScope, "grant_type", ""), 400, "invalid_request", 900144, ""},
		{"password grant", "/adfs/oauth2/token", good("scope", azScope, "grant_type", "password"), 400, "unsupported_grant_type", 70003, ""},
		{"no scope", "/adfs/oauth2/token", good(), 400, "invalid_request", 900144, ""},
		{"scope without .default", "/adfs/oauth2/token", good("scope", "https://management.azure.com/user_impersonation"), 400, "invalid_scope", 1002012, ""},
		{"two resources", "/adfs/oauth2/token", good("scope", azScope+" https://graph.windows.net/.default"), 400, "invalid_scope", 28000, ""},
		{"other resource", "/adfs/oauth2/token", good("scope", "https://graph.windows.net/.default"), 400, "invalid_resource", 500011, ""},
		{"other tenant", "/contoso.onmicrosoft.com/oauth2/v2.0/token", good("scope", azScope), 400, "invalid_request", 90002, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tokenRequest(h, tc.path, tc.form)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 200 {
				b := aadErr(t, rec)
				if b.Error != tc.errCode || len(b.ErrorCodes) != 1 || b.ErrorCodes[0] != tc.aadsts {
					t.Fatalf("error %s %v, want %s [%d]: %s", b.Error, b.ErrorCodes, tc.errCode, tc.aadsts, b.ErrorDescription)
				}
				if !strings.HasPrefix(b.ErrorDescription, "AADSTS") {
					t.Errorf("description %q does not start with its AADSTS code", b.ErrorDescription)
				}
				return
			}
			var tok struct {
				TokenType   string `json:"token_type"`
				AccessToken string `json:"access_token"`
				ExpiresIn   int    `json:"expires_in"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.ExpiresIn != 3600 {
				t.Fatalf("token response %s", rec.Body)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			claims := decodeClaims(t, tok.AccessToken)
			if claims["aud"] != tc.audience || claims["appid"] != sp.ClientID || claims["tid"] != identityTenantID {
				t.Errorf("claims %v: want aud %s, appid %s", claims, tc.audience, sp.ClientID)
			}
			// The token opens ARM.
			if rec := doBearer(h, "GET", "/subscriptions/"+testSub+"/resourceGroups/"+testRG+"/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2024-11-01", tok.AccessToken); rec.Code != 200 {
				t.Fatalf("ARM with the token: %d %s", rec.Code, rec.Body)
			}
		})
	}

	t.Run("basic authorization", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/adfs/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {azScope}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(sp.ClientID, sp.ClientSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("GET is 405", func(t *testing.T) {
		rec := do(h, "GET", "/adfs/oauth2/token", nil)
		if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
			t.Fatalf("status %d Allow %q", rec.Code, rec.Header().Get("Allow"))
		}
		if b := aadErr(t, rec); b.ErrorCodes[0] != 900561 {
			t.Errorf("error codes %v", b.ErrorCodes)
		}
	})
}

// doBearer is a request with a bearer token and no body.
func doBearer(h http.Handler, method, target, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAccessTokenChecks: every ARM request checks the token's signature,
// expiry, audience, issuer and client; a refusal is ARM's 401.
func TestAccessTokenChecks(t *testing.T) {
	wall := &wallClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	srv := openIdentityServer(t, t.TempDir(), wall)
	h, id := srv.Handler(), srv.identity
	const armPath = "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2024-11-01"
	issuer := "http://example.com/adfs"
	mint := func(issuer, aud string) string {
		t.Helper()
		tok, _, err := id.issue(issuer, aud)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := mint(issuer, "https://management.core.windows.net/")
	tampered := good[:len(good)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[!strings.HasSuffix(good, "AAAA")]
	// A token whose payload says another client, under the original signature.
	parts := strings.Split(good, ".")
	claims := decodeClaims(t, good)
	claims["appid"] = "someone-else"
	payload, _ := json.Marshal(claims)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]

	otherKey := openIdentityServer(t, t.TempDir(), wall).identity
	foreign, _, err := otherKey.issue(issuer, "https://management.core.windows.net/")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, code string
		status            int
	}{
		{"access token", good, "", 200},
		{"token of the Azure AD style authority", mint("http://example.com/"+identityTenantID+"/v2.0", "https://management.azure.com/"), "", 200},
		{"static token", testToken, "", 200},
		{"no token", "", "AuthenticationFailed", 401},
		{"tampered signature", tampered, "InvalidAuthenticationToken", 401},
		{"forged claims", forged, "InvalidAuthenticationToken", 401},
		{"another server's key", foreign, "InvalidAuthenticationToken", 401},
		{"wrong audience", mint(issuer, "https://graph.windows.net/"), "InvalidAuthenticationTokenAudience", 401},
		{"wrong issuer", mint("https://elsewhere.example/adfs", "https://management.core.windows.net/"), "InvalidAuthenticationTokenTenant", 401},
		{"garbage", "not.a.jwt", "InvalidAuthenticationToken", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := doBearer(h, "GET", armPath, tc.token)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 200 {
				if e := armError(t, rec.Body.Bytes()); e.Code != tc.code {
					t.Fatalf("code %s, want %s: %s", e.Code, tc.code, e.Message)
				}
			}
		})
	}
	t.Run("unknown client", func(t *testing.T) {
		saved := id.sp.ClientID
		id.sp.ClientID = "another-client"
		tok := mint(issuer, "https://management.core.windows.net/")
		id.sp.ClientID = saved
		if e := armError(t, doBearer(h, "GET", armPath, tok).Body.Bytes()); e.Code != "InvalidAuthenticationToken" {
			t.Fatalf("code %s", e.Code)
		}
	})
	t.Run("expired", func(t *testing.T) {
		tok := mint(issuer, "https://management.core.windows.net/")
		wall.Add(59 * time.Minute)
		if rec := doBearer(h, "GET", armPath, tok); rec.Code != 200 {
			t.Fatalf("before expiry: %d %s", rec.Code, rec.Body)
		}
		wall.Add(2 * time.Minute)
		rec := doBearer(h, "GET", armPath, tok)
		if rec.Code != 401 {
			t.Fatalf("after expiry: %d %s", rec.Code, rec.Body)
		}
		if e := armError(t, rec.Body.Bytes()); e.Code != "ExpiredAuthenticationToken" || !strings.Contains(e.Message, "is earlier than current UTC time") {
			t.Fatalf("after expiry: %s %s", e.Code, e.Message)
		}
	})
}

// TestIdentityFiles: the service principal and signing key are generated
// once into the data directory (owner-only) and kept across restarts, so
// that tokens and saved logins survive them.
func TestIdentityFiles(t *testing.T) {
	dir := t.TempDir()
	wall := &wallClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	srv, err := Open(context.Background(), Options{DataDir: dir, Clock: "virtual", Token: testToken, WallNow: wall.Now})
	if err != nil {
		t.Fatal(err)
	}
	sp := srv.ServicePrincipal()
	if !sp.Created || sp.Tenant != "adfs" || len(sp.ClientSecret) != 64 || sp.ClientIDFile != filepath.Join(dir, "client-id") {
		t.Fatalf("first start: %+v", sp)
	}
	tok, _, err := srv.identity.issue("http://example.com/adfs", "https://management.core.windows.net/")
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for _, f := range []string{clientIDFile, clientSecretFile, signingKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, err, fi)
		}
	}
	srv2 := openIdentityServer(t, dir, wall)
	if sp2 := srv2.ServicePrincipal(); sp2.Created || sp2.ClientID != sp.ClientID || sp2.ClientSecret != sp.ClientSecret {
		t.Fatalf("restart: %+v, was %+v", sp2, sp)
	}
	if rec := doBearer(srv2.Handler(), "GET", "/subscriptions/"+testSub+"/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2024-11-01", tok); rec.Code != 200 {
		t.Fatalf("a token from before the restart: %d %s", rec.Code, rec.Body)
	}
	// A damaged file is an error naming it, not a new identity.
	if err := os.WriteFile(filepath.Join(dir, signingKeyFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv2.Close()
	if _, err := Open(context.Background(), Options{DataDir: dir, Clock: "virtual", Token: testToken, WallNow: wall.Now}); err == nil || !strings.Contains(err.Error(), signingKeyFile) {
		t.Fatalf("damaged key: %v", err)
	}
}

func TestOpenIDConfigurationAndMetadata(t *testing.T) {
	wall := &wallClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	h := openIdentityServer(t, t.TempDir(), wall).Handler()
	get := func(path string) (int, map[string]any, []any) {
		rec := doBearer(h, "GET", path, "")
		var m map[string]any
		var l []any
		if json.Unmarshal(rec.Body.Bytes(), &m) != nil {
			_ = json.Unmarshal(rec.Body.Bytes(), &l)
		}
		return rec.Code, m, l
	}
	for path, want := range map[string][3]string{
		"/adfs/.well-known/openid-configuration":                          {"http://example.com/adfs", "http://example.com/adfs/oauth2/token", "http://example.com/adfs/oauth2/authorize"},
		"/" + identityTenantID + "/v2.0/.well-known/openid-configuration": {"http://example.com/" + identityTenantID + "/v2.0", "http://example.com/" + identityTenantID + "/oauth2/v2.0/token", "http://example.com/" + identityTenantID + "/oauth2/v2.0/authorize"},
	} {
		code, m, _ := get(path)
		if code != 200 || m["issuer"] != want[0] || m["token_endpoint"] != want[1] || m["authorization_endpoint"] != want[2] {
			t.Errorf("%s: %d %v", path, code, m)
		}
	}
	if code, m, _ := get("/adfs/discovery/keys"); code != 200 || len(m["keys"].([]any)) != 1 {
		t.Errorf("keys: %d %v", code, m)
	}
	code, m, _ := get("//metadata/endpoints?api-version=2015-01-01")
	auth, _ := m["authentication"].(map[string]any)
	if code != 200 || auth["loginEndpoint"] != "http://example.com/adfs" || auth["audiences"].([]any)[0] != "https://management.core.windows.net/" || m["graphEndpoint"] == nil {
		t.Errorf("metadata 2015-01-01: %d %v", code, m)
	}
	code, _, l := get("/metadata/endpoints?api-version=2022-09-01")
	if code != 200 || len(l) != 1 || l[0].(map[string]any)["resourceManager"] != "http://example.com/" {
		t.Errorf("metadata 2022-09-01: %d %v", code, l)
	}
	rec := doBearer(h, "GET", "/metadata/endpoints?api-version=2014-01-01", "")
	if e := armError(t, rec.Body.Bytes()); rec.Code != 400 || e.Code != "InvalidApiVersionParameter" || !strings.Contains(e.Message, "2015-01-01") {
		t.Errorf("metadata, bad version: %d %v", rec.Code, e)
	}
	// Nothing else answers without a token.
	for _, p := range []string{"/adfs/../subscriptions", "/adfs/other", "/osupgrade/clock", "/metrics"} {
		if rec := doBearer(h, "GET", p, ""); rec.Code != 401 {
			t.Errorf("GET %s without a token: %d", p, rec.Code)
		}
	}
}
