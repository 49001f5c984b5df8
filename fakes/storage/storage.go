// Package storage is a blob endpoint that accepts only service SAS tokens
// signed by the Azure SDK's sas package, with expiry read from the scenario
// clock: the source of R-CRED-1's expired-credential failures.
//
// It must not read the wall clock for its verdicts, and it serves only what
// was put into it: there is no persistence and no listing.
package storage

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	// blob and sas, not the root azblob package: the root pulls in
	// azblob/container and with it apache/arrow-go, flatbuffers, lz4 and xxh3.
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// PassiveClock is the scenario time the server checks `se` against.
type PassiveClock interface{ Now() time.Time }

// Server holds blobs of one storage account and serves GET
// /{account}/{container}/{blob}?{sas} (path-style, like Azurite).
// Safe for concurrent use.
type Server struct {
	account string
	key     []byte
	cred    *sas.SharedKeyCredential
	clock   PassiveClock

	mu    sync.Mutex
	blobs map[string][]byte // container + "/" + blob
}

// New creates a server for account with a fresh random account key.
func New(account string, clock PassiveClock) (*Server, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("storage: account key: %w", err)
	}
	return NewWithKey(account, base64.StdEncoding.EncodeToString(key), clock)
}

// NewWithKey creates a server for account whose key is base64 encoded, as
// Azure shows account keys.
func NewWithKey(account, key string, clock PassiveClock) (*Server, error) {
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("storage: account key is not base64: %w", err)
	}
	cred, err := blob.NewSharedKeyCredential(account, key)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return &Server{account: account, key: raw, cred: cred, clock: clock, blobs: map[string][]byte{}}, nil
}

// Account is the storage account's name.
func (s *Server) Account() string { return s.account }

// Put stores a blob, replacing any previous content.
func (s *Server) Put(container, blob string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[container+"/"+blob] = append([]byte(nil), data...)
}

// SAS issues a read-only service SAS for one blob that expires at expiry,
// signed with the account key by the SDK (sas.BlobSignatureValues). It is
// what an extension's sasExpiresAt turns into, and renewing a token is
// issuing a new one.
func (s *Server) SAS(container, blob string, expiry time.Time) (string, error) {
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    expiry.UTC(),
		Permissions:   (&sas.BlobPermissions{Read: true}).String(),
		ContainerName: container,
		BlobName:      blob,
	}.SignWithSharedKey(s.cred)
	if err != nil {
		return "", fmt.Errorf("storage: sign SAS for %s/%s: %w", container, blob, err)
	}
	return q.Encode(), nil
}

// BlobURL is the URL of a blob on a server reachable at base
// ("http://172.18.0.1:40123"), with a SAS query.
func (s *Server) BlobURL(base, container, blob, sasQuery string) string {
	u := strings.TrimSuffix(base, "/") + "/" + s.account + "/" + container + "/" + blob
	if sasQuery != "" {
		u += "?" + sasQuery
	}
	return u
}

// ServeHTTP serves blob downloads.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.fail(w, r, http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.", "")
		return
	}
	account, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	container, blob, _ := strings.Cut(rest, "/")
	if account != s.account || container == "" || blob == "" {
		s.fail(w, r, http.StatusNotFound, "ResourceNotFound", "The specified resource does not exist.", "")
		return
	}
	if code, detail := s.authorize(r.URL.Query(), container, blob); code != "" {
		status := http.StatusForbidden
		msg := "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."
		if code == "AuthorizationPermissionMismatch" {
			msg = "This request is not authorized to perform this operation using this permission."
		}
		s.fail(w, r, status, code, msg, detail)
		return
	}
	s.mu.Lock()
	data, ok := s.blobs[container+"/"+blob]
	s.mu.Unlock()
	if !ok {
		s.fail(w, r, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.", "")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.Header().Set("x-ms-blob-type", "BlockBlob")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}

// authorize checks a service SAS for a read of container/blob: the
// signature first (HMAC-SHA256 over the signed version's string-to-sign,
// compared in constant time), then the time window against the scenario
// clock, then the permission. It returns Azure's error code and detail, or
// "" when the request may proceed.
func (s *Server) authorize(q url.Values, container, blob string) (code, detail string) {
	sig := q.Get("sig")
	if sig == "" || q.Get("se") == "" || q.Get("sv") == "" {
		return "AuthenticationFailed", "Signature, signed expiry or signed version is missing."
	}
	resource := q.Get("sr")
	canonical := "/blob/" + s.account + "/" + container
	switch resource {
	case "b":
		canonical += "/" + blob
	case "c":
	default:
		return "AuthenticationFailed", fmt.Sprintf("Signed resource %q is not supported by this endpoint.", resource)
	}
	stringToSign := StringToSign(q, canonical)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(stringToSign))
	want := mac.Sum(nil)
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
		return "AuthenticationFailed", "Signature did not match. String to sign used was " + stringToSign
	}
	now := s.clock.Now().UTC()
	expiry, err := time.Parse(sas.TimeFormat, q.Get("se"))
	if err != nil {
		return "AuthenticationFailed", fmt.Sprintf("se %q is not an ISO 8601 time.", q.Get("se"))
	}
	if !now.Before(expiry) {
		return "AuthenticationFailed", fmt.Sprintf("Signed expiry time [%s] must be after signed start time [%s]", expiry.Format(http.TimeFormat), now.Format(http.TimeFormat))
	}
	if st := q.Get("st"); st != "" {
		start, err := time.Parse(sas.TimeFormat, st)
		if err != nil {
			return "AuthenticationFailed", fmt.Sprintf("st %q is not an ISO 8601 time.", st)
		}
		if now.Before(start) {
			return "AuthenticationFailed", fmt.Sprintf("Signed start time [%s] is in the future, current time is [%s]", start.Format(http.TimeFormat), now.Format(http.TimeFormat))
		}
	}
	if !strings.Contains(q.Get("sp"), "r") {
		return "AuthorizationPermissionMismatch", ""
	}
	return "", ""
}

// StringToSign is the service SAS string-to-sign of the blob service
// versions the SDK signs with: 16 fields joined by "\n" (sp, st, se,
// canonical resource, si, sip, spr, sv, sr, snapshot time, ses, rscc, rscd,
// rsce, rscl, rsct), taken verbatim from the query as the service does.
func StringToSign(q url.Values, canonicalResource string) string {
	return strings.Join([]string{
		q.Get("sp"), q.Get("st"), q.Get("se"), canonicalResource, q.Get("si"), q.Get("sip"),
		q.Get("spr"), q.Get("sv"), q.Get("sr"), q.Get("snapshot"), q.Get("ses"),
		q.Get("rscc"), q.Get("rscd"), q.Get("rsce"), q.Get("rscl"), q.Get("rsct"),
	}, "\n")
}

// ErrorBody is Azure Storage's error document.
type ErrorBody struct {
	XMLName                   xml.Name `xml:"Error" json:"-"`
	Code                      string   `xml:"Code" json:"Code"`
	Message                   string   `xml:"Message" json:"Message"`
	AuthenticationErrorDetail string   `xml:"AuthenticationErrorDetail,omitempty" json:"AuthenticationErrorDetail,omitempty"`
}

// fail writes Azure's error response: XML by default, JSON when the client
// asks for it, with the code in x-ms-error-code.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, msg, detail string) {
	body := ErrorBody{
		Code:                      code,
		Message:                   fmt.Sprintf("%s\nRequestId:%s\nTime:%s", msg, requestID(), s.clock.Now().UTC().Format("2006-01-02T15:04:05.0000000Z")),
		AuthenticationErrorDetail: detail,
	}
	w.Header().Set("x-ms-error-code", code)
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(body)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
