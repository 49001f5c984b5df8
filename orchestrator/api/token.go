package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// The token service's paths, which answer without a bearer token: the
// OpenID configuration MSAL and azidentity read before asking for a token,
// the token endpoint (OAuth2 client-credentials grant), the signing keys,
// and ARM's cloud metadata that `az cloud register` reads.
//
// An ADFS-style authority (https://HOST/adfs) is what az, azure-identity
// (tenant "adfs") and azidentity (tenant "adfs") use without asking a public
// host for instance discovery; an Azure AD style one
// (https://HOST/TENANTID) is also served for clients that turn instance
// discovery off themselves (azidentity's DisableInstanceDiscovery).
func (id *identity) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range tokenServicePaths {
		mux.HandleFunc(p.pattern, p.handler(id))
	}
	return mux
}

var tokenServicePaths = []struct {
	pattern string
	handler func(*identity) http.HandlerFunc
}{
	{"/adfs/.well-known/openid-configuration", func(id *identity) http.HandlerFunc { return id.openIDConfiguration }},
	{"/{tenant}/v2.0/.well-known/openid-configuration", func(id *identity) http.HandlerFunc { return id.openIDConfiguration }},
	{"/adfs/oauth2/token", func(id *identity) http.HandlerFunc { return id.token }},
	{"/{tenant}/oauth2/token", func(id *identity) http.HandlerFunc { return id.token }},
	{"/{tenant}/oauth2/v2.0/token", func(id *identity) http.HandlerFunc { return id.token }},
	{"/adfs/oauth2/authorize", func(id *identity) http.HandlerFunc { return id.authorize }},
	{"/{tenant}/oauth2/v2.0/authorize", func(id *identity) http.HandlerFunc { return id.authorize }},
	{"/adfs/discovery/keys", func(id *identity) http.HandlerFunc { return id.keys }},
	{"/{tenant}/discovery/v2.0/keys", func(id *identity) http.HandlerFunc { return id.keys }},
	{"/metadata/endpoints", func(id *identity) http.HandlerFunc { return id.metadataEndpoints }},
}

// publicHandler returns the token service's handler for r, with r's path
// cleaned (path.Clean: repeated slashes collapsed) and lowercased for it (az asks for
// "//metadata/endpoints" when its ARM endpoint ends in '/'; MSAL lowercases
// authorities), or nil when r is not for the token service.
func (id *identity) publicHandler(mux *http.ServeMux, r *http.Request) http.Handler {
	p := strings.ToLower(path.Clean("/" + r.URL.Path))
	probe := &http.Request{Method: r.Method, Host: r.Host, URL: &url.URL{Path: p}}
	if _, pattern := mux.Handler(probe); !isTokenServicePattern(pattern) {
		return nil
	}
	r.URL.Path, r.URL.RawPath = p, ""
	return mux
}

func isTokenServicePattern(pattern string) bool {
	for _, p := range tokenServicePaths {
		if p.pattern == pattern {
			return true
		}
	}
	return false
}

// authority is the authority a request's path names: "adfs", or the tenant
// id; ok is false (and an Azure AD error written) for another tenant.
func (id *identity) authority(w http.ResponseWriter, r *http.Request) (base, issuer string, ok bool) {
	base = baseURL(r)
	switch tenant := r.PathValue("tenant"); {
	case tenant == "": // a path under /adfs/
		return base, base + "/" + adfsTenant, true
	case strings.EqualFold(tenant, identityTenantID):
		return base, base + "/" + identityTenantID + "/v2.0", true
	default:
		id.aadError(w, r, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. This emulator has one tenant, '%s' (or the ADFS authority %s/adfs).", quoteLimit(tenant), identityTenantID, base))
		return "", "", false
	}
}

// openIDConfiguration is the authority's discovery document. MSAL needs
// issuer, authorization_endpoint and token_endpoint, and checks that the
// issuer's host is the authority's.
func (id *identity) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	if !id.allowMethod(w, r, http.MethodGet) {
		return
	}
	_, issuer, ok := id.authority(w, r)
	if !ok {
		return
	}
	// The tenant authority (v2.0) and ADFS differ in their paths and in a
	// few fields of their own; the rest is one document.
	doc := map[string]any{
		"issuer":                                issuer,
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"response_types_supported":              []string{"token"},
		"scopes_supported":                      []string{"openid"},
	}
	endpoint, v2 := strings.CutSuffix(issuer, "/v2.0")
	paths := "/oauth2/authorize /oauth2/token /discovery/keys"
	if v2 {
		paths = "/oauth2/v2.0/authorize /oauth2/v2.0/token /discovery/v2.0/keys"
		doc["subject_types_supported"] = []string{"pairwise"}
		doc["tenant_region_scope"] = nil
	} else {
		doc["access_token_issuer"] = issuer
	}
	p := strings.Fields(paths)
	doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"] = endpoint+p[0], endpoint+p[1], endpoint+p[2]
	writeJSON(w, http.StatusOK, doc)
}

// authorize answers the interactive sign-in endpoint that the discovery
// document must name: this emulator signs in its service principal only.
func (id *identity) authorize(w http.ResponseWriter, r *http.Request) {
	base, _, ok := id.authority(w, r)
	if !ok {
		return
	}
	id.aadError(w, r, http.StatusBadRequest, "unsupported_response_type", 0,
		fmt.Sprintf("Interactive sign-in is not supported by this emulator: sign in its service principal with grant_type=client_credentials at %s/adfs/oauth2/token (az login --service-principal).", base))
}

// keys is the authority's JSON Web Key Set: the public key that signs
// access tokens.
func (id *identity) keys(w http.ResponseWriter, r *http.Request) {
	if !id.allowMethod(w, r, http.MethodGet) {
		return
	}
	if _, _, ok := id.authority(w, r); !ok {
		return
	}
	pub := id.key.PublicKey
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": id.keyID, "x": b64(x), "y": b64(y),
	}}})
}

// maxTokenRequest bounds a token request's form (Azure AD's are a few
// hundred bytes).
const maxTokenRequest = 64 << 10

// oidcScopes are the scopes MSAL may add to any request; they name no
// resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// token is the OAuth2 token endpoint: the client-credentials grant for the
// service principal, for ARM. Client credentials come in the form
// (client_secret_post) or in Basic authorization (client_secret_basic); the
// resource as an Azure AD v2 scope ("RESOURCE/.default") or an ADFS/v1
// resource parameter. Errors are Azure AD's, which MSAL and azidentity
// parse into their messages.
func (id *identity) token(w http.ResponseWriter, r *http.Request) {
	if !id.allowMethod(w, r, http.MethodPost) {
		return
	}
	_, issuer, ok := id.authority(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		id.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body could not be read as a form: %v.", err))
		return
	}
	form := r.PostForm
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, basic := r.BasicAuth(); basic {
		clientID, secret = u, p
	}
	missing := func(name string) {
		id.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", name))
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		missing("grant_type")
		return
	case grant != "client_credentials":
		id.aadError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'. This emulator supports 'client_credentials' only.", quoteLimit(grant)))
		return
	case clientID == "":
		missing("client_id")
		return
	case clientID != id.sp.ClientID:
		id.aadError(w, r, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. The emulator's service principal is in %s.", quoteLimit(clientID), identityTenantID, id.sp.ClientIDFile))
		return
	case secret == "":
		if form.Get("client_assertion") != "" {
			id.aadError(w, r, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion (certificate credentials) is not supported by this emulator; use the client secret.")
			return
		}
		id.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
		return
	case !id.checkSecret(secret):
		id.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value of app '%s' (the emulator's is in %s).", id.sp.ClientID, id.sp.ClientSecretFile))
		return
	}
	audience, status, code, errNum, msg := requestedAudience(form.Get("scope"), form.Get("resource"))
	if audience == "" {
		id.aadError(w, r, status, code, errNum, msg)
		return
	}
	tok, life, err := id.issue(issuer, audience)
	if err != nil {
		id.aadError(w, r, http.StatusInternalServerError, "server_error", 0, fmt.Sprintf("The token could not be signed: %v.", err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	secs := int(life / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "access_token": tok, "expires_in": secs, "ext_expires_in": secs, "resource": audience,
	})
}

// requestedAudience is the ARM audience a token request asks for, or the
// Azure AD error that refuses it.
func requestedAudience(scope, resource string) (audience string, status int, code string, errNum int, msg string) {
	if scope == "" && resource == "" {
		return "", http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
	}
	if scope != "" {
		var named []string
		for _, s := range strings.Fields(scope) {
			if !oidcScopes[strings.ToLower(s)] {
				named = append(named, s)
			}
		}
		switch {
		case len(named) == 0:
			return "", http.StatusBadRequest, "invalid_scope", 1002012,
				fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", quoteLimit(scope))
		case len(named) > 1:
			return "", http.StatusBadRequest, "invalid_scope", 28000,
				fmt.Sprintf("Provided value for the input parameter scope '%s' is not valid because it contains more than one resource. Scope %s is not valid.", quoteLimit(scope), quoteLimit(scope))
		}
		r, ok := strings.CutSuffix(named[0], "/.default")
		if !ok {
			return "", http.StatusBadRequest, "invalid_scope", 1002012,
				fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", quoteLimit(named[0]))
		}
		resource = r
	}
	if a := canonicalAudience(resource); a != "" {
		return a, 0, "", 0, ""
	}
	return "", http.StatusBadRequest, "invalid_resource", 500011,
		fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This emulator issues tokens for ARM only: %s.", quoteLimit(resource), identityTenantID, strings.Join(armAudiences, ", "))
}

// allowMethod answers a method the endpoint does not take with Azure AD's
// 405.
func (id *identity) allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || method == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", method)
	id.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561,
		fmt.Sprintf("The endpoint only accepts %s requests. Received a %s request.", method, quoteLimit(r.Method)))
	return false
}

// aadErrorBody is Azure AD's error response (RFC 6749 section 5.2 plus its
// own fields); MSAL and azidentity show error_description.
type aadErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// aadError writes Azure AD's error: errNum is the AADSTS number (0: none).
func (id *identity) aadError(w http.ResponseWriter, r *http.Request, status int, code string, errNum int, msg string) {
	now := id.now().UTC().Format("2006-01-02 15:04:05Z")
	trace := w.Header().Get("x-ms-request-id")
	if trace == "" {
		trace = newID()
	}
	// MSAL sends client-request-id; Azure AD echoes it as the correlation id.
	corr := clientID(r.Header.Get("client-request-id"))
	body := aadErrorBody{Error: code, ErrorCodes: []int{}, Timestamp: now, TraceID: trace, CorrelationID: corr}
	desc := msg
	if errNum != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", errNum, msg)
		body.ErrorCodes = []int{errNum}
		body.ErrorURI = fmt.Sprintf("%s/error?code=%d", baseURL(r), errNum)
	}
	body.ErrorDescription = fmt.Sprintf("%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", desc, trace, corr, now)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, body)
}

// quoteLimit cuts a client's value to 80 bytes for a message.
func quoteLimit(s string) string {
	if len(s) <= 80 {
		return s
	}
	return strings.ToValidUTF8(s[:80], "") + "..."
}
