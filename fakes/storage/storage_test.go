package storage_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"

	"github.com/osupgrade/osupgrade/fakes/storage"
	"github.com/osupgrade/osupgrade/internal/clock"
)

func newServer(t *testing.T) (*storage.Server, *clock.Virtual, *httptest.Server) {
	t.Helper()
	c := clock.NewVirtual(clock.Epoch)
	s, err := storage.New("osupgrade", c)
	if err != nil {
		t.Fatal(err)
	}
	s.Put("extensions", "web/script.sh", []byte("echo hello\n"))
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, c, hs
}

func get(t *testing.T, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// The SDK's own blob client downloads with a token the SDK signed.
func TestSDKClientDownloadsWithValidSAS(t *testing.T) {
	s, _, hs := newServer(t)
	q, err := s.SAS("extensions", "web/script.sh", clock.Epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err := blob.NewClientWithNoCredential(s.BlobURL(hs.URL, "extensions", "web/script.sh", q), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "echo hello\n" {
		t.Fatalf("downloaded %q", b)
	}
}

// R-CRED-1: once the scenario clock passes `se`, the same URL is refused
// with Azure's AuthenticationFailed, and the SDK surfaces it as such.
func TestExpiredSASIsRefusedOnScenarioClock(t *testing.T) {
	s, c, hs := newServer(t)
	q, err := s.SAS("extensions", "web/script.sh", clock.Epoch.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	u := s.BlobURL(hs.URL, "extensions", "web/script.sh", q)
	if code, body, _ := get(t, u); code != http.StatusOK {
		t.Fatalf("before expiry: %d %s", code, body)
	}
	c.Advance(10 * time.Minute)
	code, body, h := get(t, u)
	if code != http.StatusForbidden || h.Get("x-ms-error-code") != "AuthenticationFailed" {
		t.Fatalf("at expiry: %d %s", code, body)
	}
	var e storage.ErrorBody
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body is not Azure's XML error: %v\n%s", err, body)
	}
	if e.Code != "AuthenticationFailed" || !strings.Contains(e.AuthenticationErrorDetail, "Signed expiry time") {
		t.Fatalf("error body %+v", e)
	}
	bc, err := blob.NewClientWithNoCredential(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bc.DownloadStream(context.Background(), nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "AuthenticationFailed" {
		t.Fatalf("SDK error %v", err)
	}
	// Renewal is a new token.
	q2, err := s.SAS("extensions", "web/script.sh", c.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(t, s.BlobURL(hs.URL, "extensions", "web/script.sh", q2)); code != http.StatusOK {
		t.Fatalf("renewed: %d %s", code, body)
	}
}

func TestTamperedSASIsRefused(t *testing.T) {
	s, _, hs := newServer(t)
	q, err := s.SAS("extensions", "web/script.sh", clock.Epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	other, err := storage.New("osupgrade", clock.NewVirtual(clock.Epoch))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.SAS("extensions", "web/script.sh", clock.Epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() string{
		"later expiry": func() string {
			v := cloneValues(vals)
			v.Set("se", "2030-01-01T00:00:00Z")
			return s.BlobURL(hs.URL, "extensions", "web/script.sh", v.Encode())
		},
		"more permissions": func() string {
			v := cloneValues(vals)
			v.Set("sp", "rw")
			return s.BlobURL(hs.URL, "extensions", "web/script.sh", v.Encode())
		},
		"other blob": func() string {
			return s.BlobURL(hs.URL, "extensions", "other/script.sh", q)
		},
		"signature cut": func() string {
			v := cloneValues(vals)
			v.Set("sig", v.Get("sig")[:10])
			return s.BlobURL(hs.URL, "extensions", "web/script.sh", v.Encode())
		},
		"other account key": func() string {
			return s.BlobURL(hs.URL, "extensions", "web/script.sh", foreign)
		},
		"no token": func() string {
			return s.BlobURL(hs.URL, "extensions", "web/script.sh", "")
		},
	}
	for name, u := range cases {
		t.Run(name, func(t *testing.T) {
			code, body, h := get(t, u())
			if code != http.StatusForbidden || h.Get("x-ms-error-code") != "AuthenticationFailed" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
}

func TestMissingBlobAndJSONErrors(t *testing.T) {
	s, _, hs := newServer(t)
	q, err := s.SAS("extensions", "missing", clock.Epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(t, s.BlobURL(hs.URL, "extensions", "missing", q)); code != http.StatusNotFound || !strings.Contains(body, "BlobNotFound") {
		t.Fatalf("%d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, s.BlobURL(hs.URL, "extensions", "web/script.sh", ""), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(b), `"Code":"AuthenticationFailed"`) {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
