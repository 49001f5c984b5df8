package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The emulator's one service principal signs in to its one tenant. Azure
// AD style authorities name the tenant by id; ADFS style ones ("adfs") name
// none, and MSAL, azidentity and az treat them as a private authority that
// needs no instance discovery from a public host.
const (
	identityTenantID = DefaultTenant // subscriptions.go: the tenant of every subscription
	adfsTenant       = "adfs"
	// servicePrincipalObjectID is the principal's object id (the oid claim).
	servicePrincipalObjectID = "00000000-0000-0000-0000-0000000000bb"
	// defaultTokenLifetime is how long an access token lives, as in Azure
	// AD (60 to 90 minutes): clients refresh before it ends.
	defaultTokenLifetime = time.Hour
)

// Files of the service principal in the data directory, beside the static
// bearer token.
const (
	clientIDFile     = "client-id"
	clientSecretFile = "client-secret"
	signingKeyFile   = "token-signing-key.pem"
)

// armAudiences are the resource ids an ARM token may be issued for: the
// classic one (what az asks for, from /metadata/endpoints) and the current
// one (what the Python SDK asks for by default). Compared without a
// trailing slash, as Azure AD does.
var armAudiences = []string{"https://management.core.windows.net/", "https://management.azure.com/"}

// ServicePrincipal is what a client needs to sign in with the
// client-credentials grant: `az login --service-principal -u ClientID -p
// ClientSecret --tenant adfs`, azure-identity's and azidentity's
// ClientSecretCredential with tenant "adfs" (or TenantID) and the server's
// URL as authority host.
type ServicePrincipal struct {
	ClientID, ClientSecret string
	// Tenant is "adfs", the tenant of an ADFS-style authority
	// (https://HOST/adfs); TenantID the tenant's id, for an Azure AD style
	// authority (https://HOST/TENANTID) used without instance discovery.
	Tenant, TenantID string
	// ClientIDFile and ClientSecretFile are where they are kept.
	ClientIDFile, ClientSecretFile string
	// Created is true when this start generated them.
	Created bool
}

// identity issues and checks access tokens: signed JWTs for the service
// principal, and the static bearer token of Options.Token.
type identity struct {
	sp          ServicePrincipal
	secretHash  [sha256.Size]byte
	key         *ecdsa.PrivateKey
	keyID       string
	staticToken string
	lifetime    time.Duration
	// now is the wall clock: tokens expire in the clients' time, whatever
	// the scenario clock does.
	now func() time.Time
}

// openIdentity loads the service principal and the token-signing key from
// dir, generating whichever is missing (files of mode 0600).
func openIdentity(dir, staticToken string, lifetime time.Duration, now func() time.Time) (*identity, error) {
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	sp := ServicePrincipal{
		Tenant: adfsTenant, TenantID: identityTenantID,
		ClientIDFile: filepath.Join(dir, clientIDFile), ClientSecretFile: filepath.Join(dir, clientSecretFile),
	}
	var made bool
	var err error
	if sp.ClientID, made, err = secretFromFile(sp.ClientIDFile, newID); err != nil {
		return nil, fmt.Errorf("service principal client id: %w", err)
	}
	sp.Created = made
	if sp.ClientSecret, made, err = secretFromFile(sp.ClientSecretFile, newClientSecret); err != nil {
		return nil, fmt.Errorf("service principal client secret: %w", err)
	}
	sp.Created = sp.Created || made
	key, err := signingKeyFromFile(filepath.Join(dir, signingKeyFile))
	if err != nil {
		return nil, fmt.Errorf("token signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	kid := sha256.Sum256(der)
	return &identity{
		sp: sp, secretHash: sha256.Sum256([]byte(sp.ClientSecret)), key: key, keyID: hex.EncodeToString(kid[:8]),
		staticToken: staticToken, lifetime: lifetime, now: now,
	}, nil
}

// newClientSecret is 32 random bytes in hex: unguessable, and safe in a
// form, a shell word and a URL.
func newClientSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// secretFromFile reads a one-line value, or writes a generated one when the
// file does not exist.
func secretFromFile(path string, generate func() string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		v := generate()
		return v, true, writeFileAtomic(path, []byte(v+"\n"), 0o600)
	}
	if err != nil {
		return "", false, err
	}
	v := strings.TrimSpace(string(b))
	if v == "" || strings.ContainsAny(v, " \t\r\n") {
		return "", false, fmt.Errorf("%s: want one value on one line", path)
	}
	return v, false, nil
}

// signingKeyFromFile reads a PKCS#8 ECDSA P-256 key, or generates one.
// ES256 rather than Azure AD's RS256: clients never check an access token's
// signature, and a P-256 key is made in microseconds on every test's first
// start where RSA takes a good part of a second.
func signingKeyFromFile(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return key, writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: want a PEM \"PRIVATE KEY\" block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: want an ECDSA P-256 key", path)
	}
	return key, nil
}

// accessClaims are an access token's claims, named as in Azure AD's v1
// tokens for applications.
type accessClaims struct {
	jwt.RegisteredClaims
	// Aud is one string, as Azure AD writes it (RegisteredClaims would
	// write a list).
	Aud      string `json:"aud"`
	AppID    string `json:"appid"`
	TenantID string `json:"tid"`
	ObjectID string `json:"oid"`
	IDType   string `json:"idtyp"`
	Version  string `json:"ver"`
}

func (c accessClaims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Aud}, nil }

// issue signs an access token for the service principal, for audience,
// issued by issuer; it returns the token and its lifetime.
func (id *identity) issue(issuer, audience string) (string, time.Duration, error) {
	now := id.now().UTC().Truncate(time.Second)
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: servicePrincipalObjectID, ID: newID(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(id.lifetime)),
		},
		Aud: audience, AppID: id.sp.ClientID, TenantID: identityTenantID, ObjectID: servicePrincipalObjectID, IDType: "app", Version: "1.0",
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = id.keyID
	s, err := t.SignedString(id.key)
	return s, id.lifetime, err
}

// checkSecret compares a client's credentials with the service
// principal's, in constant time for the secret.
func (id *identity) checkSecret(secret string) bool {
	h := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], id.secretHash[:]) == 1
}

// issuers are the token issuers of the server at base (scheme://host): its
// ADFS authority and its tenant's Azure AD style one.
func issuers(base string) []string {
	return []string{base + "/" + adfsTenant, base + "/" + identityTenantID + "/v2.0"}
}

// authenticate checks a request's bearer token: the static token, or an
// access token this server signed, unexpired, for ARM, issued by one of
// its authorities at the address the request reached, for its service
// principal. A refusal is ARM's 401.
func (id *identity) authenticate(r *http.Request) error {
	header := r.Header.Get("Authorization")
	if header == "" {
		return unauthorized("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	tok, ok := cutBearer(header)
	if !ok {
		return unauthorized("AuthenticationFailed", "Authentication failed. The 'Authorization' header is not a bearer token ('Bearer <token>').")
	}
	if id.staticToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(id.staticToken)) == 1 {
		return nil
	}
	var claims accessClaims
	_, err := jwt.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) { return &id.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithTimeFunc(id.now), jwt.WithExpirationRequired())
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) && claims.ExpiresAt != nil:
		return unauthorized("ExpiredAuthenticationToken", fmt.Sprintf("The access token expiry UTC time '%s' is earlier than current UTC time '%s'.",
			armTokenTime(claims.ExpiresAt.Time), armTokenTime(id.now())))
	case errors.Is(err, jwt.ErrTokenNotValidYet) && claims.NotBefore != nil:
		return unauthorized("InvalidAuthenticationToken", fmt.Sprintf("The access token is not valid before UTC time '%s'; current UTC time is '%s'.",
			armTokenTime(claims.NotBefore.Time), armTokenTime(id.now())))
	case err != nil:
		return unauthorized("InvalidAuthenticationToken", "The access token is invalid.")
	}
	if !knownAudience(claims.Aud) {
		return unauthorized("InvalidAuthenticationTokenAudience", fmt.Sprintf("The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.",
			claims.Aud, strings.Join(armAudiences, "','")))
	}
	if !containsFold(issuers(baseURL(r)), claims.Issuer) {
		return unauthorized("InvalidAuthenticationTokenTenant", fmt.Sprintf("The access token is from the wrong issuer '%s'. It must match one of the issuers '%s' of this server.",
			claims.Issuer, strings.Join(issuers(baseURL(r)), "','")))
	}
	if claims.AppID != id.sp.ClientID {
		return unauthorized("InvalidAuthenticationToken", fmt.Sprintf("The access token was issued to the application '%s', which this server does not know.", claims.AppID))
	}
	return nil
}

// cutBearer takes the token out of "Bearer <token>" (the scheme is
// case-insensitive, RFC 9110).
func cutBearer(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
}

func unauthorized(code, msg string) *apiError {
	return &apiError{Status: http.StatusUnauthorized, Code: code, Message: msg}
}

// armTokenTime is ARM's time in its token messages: 12/02/2026 08:22:05.
func armTokenTime(t time.Time) string { return t.UTC().Format("01/02/2006 15:04:05") }

// canonicalAudience is the registered form of a resource id (trailing
// slash), or "" for a resource that is not ARM.
func canonicalAudience(resource string) string {
	r := strings.TrimRight(resource, "/")
	for _, a := range armAudiences {
		if strings.EqualFold(r, strings.TrimRight(a, "/")) {
			return a
		}
	}
	return ""
}

func knownAudience(aud string) bool { return aud != "" && canonicalAudience(aud) == aud }

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
