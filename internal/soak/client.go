package soak

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/stat"
)

// apiVersion is the api-version every ARM request carries.
const apiVersion = "2024-07-01"

// Fixed ARM coordinates of everything the soak creates.
const (
	subscription  = "00000000-0000-0000-0000-00000000500a"
	resourceGroup = "rg-soak"
	setsPath      = "/subscriptions/" + subscription + "/resourceGroups/" + resourceGroup + "/providers/Microsoft.Compute/virtualMachineScaleSets"
)

// doer sends one request: over TLS to the child server, or in process to a
// twin's handler.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// client calls the API with the bearer token and records every response by
// kind (method and route, not the concrete path) with its status and
// latency. Status 0 is a request that got no response.
type client struct {
	base  string
	token string
	http  doer
	rec   *recorder // nil: not recorded (a twin's requests)
}

// newTLSClient trusts only the server's own certificate.
func newTLSClient(base, token string, certPEM []byte, rec *recorder) (*client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, errors.New("the server's certificate file holds no PEM certificate")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	return &client{base: base, token: token, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}, rec: rec}, nil
}

// response is a finished request: status and body (read in full).
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d response: %w", r.Status, err)
	}
	return nil
}

// call sends method path (path may hold a query; ARM paths get the
// api-version) with body as JSON when not nil; kind names the request in
// the summary.
func (c *client) call(ctx context.Context, kind, method, path string, body any) (*response, error) {
	u := path
	if !strings.HasPrefix(u, "http") {
		u = c.base + path
	}
	if strings.Contains(u, "/subscriptions/") && !strings.Contains(u, "api-version=") {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "api-version=" + apiVersion
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	var out *response
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		out, err = &response{Status: resp.StatusCode, Header: resp.Header, Body: b}, rerr
	}
	if c.rec != nil && ctx.Err() == nil {
		status := 0
		if out != nil {
			status = out.Status
		}
		c.rec.add(kind, method+" "+path, status, time.Since(start), err, out)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return out, nil
}

// recorder keeps every request's kind, status and latency, and the first
// few requests that broke the rules (5xx, or no response at all).
type recorder struct {
	mu      sync.Mutex
	kinds   map[string]*kindRecord
	serverE []string // 5xx and transport errors, the first maxKept
	nServer int
}

type kindRecord struct {
	status  map[int]int
	latency []float64 // milliseconds
}

const maxKept = 20

func newRecorder() *recorder { return &recorder{kinds: map[string]*kindRecord{}} }

func (r *recorder) add(kind, target string, status int, d time.Duration, err error, resp *response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.kinds[kind]
	if k == nil {
		k = &kindRecord{status: map[int]int{}}
		r.kinds[kind] = k
	}
	k.status[status]++
	k.latency = append(k.latency, float64(d.Microseconds())/1000)
	if status == 0 || status >= 500 {
		r.nServer++
		if len(r.serverE) < maxKept {
			what := ""
			if err != nil {
				what = "no response: " + err.Error()
			} else {
				b := resp.Body
				if len(b) > 300 {
					b = b[:300]
				}
				what = fmt.Sprintf("%d %s", status, strings.TrimSpace(string(b)))
			}
			r.serverE = append(r.serverE, fmt.Sprintf("%s (%s): %s", kind, target, what))
		}
	}
}

// KindStats is the summary of one kind of request.
type KindStats struct {
	Kind     string         `json:"kind"`
	Count    int            `json:"count"`
	ByStatus map[string]int `json:"byStatus"` // "0" is no response
	P50ms    float64        `json:"p50ms"`
	P99ms    float64        `json:"p99ms"`
}

// stats summarizes the recorded requests, by kind and (kind "all") in total.
func (r *recorder) stats() (kinds []KindStats, all KindStats, serverErrors []string, nServer int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var every []float64
	all = KindStats{Kind: "all", ByStatus: map[string]int{}}
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k := r.kinds[n]
		ks := KindStats{Kind: n, Count: len(k.latency), ByStatus: map[string]int{}}
		for s, c := range k.status {
			ks.ByStatus[fmt.Sprint(s)] += c
			all.ByStatus[fmt.Sprint(s)] += c
		}
		ks.P50ms, ks.P99ms = percentiles(k.latency)
		kinds = append(kinds, ks)
		every = append(every, k.latency...)
	}
	all.Count = len(every)
	all.P50ms, all.P99ms = percentiles(every)
	return kinds, all, slices.Clone(r.serverE), r.nServer
}

func percentiles(ms []float64) (p50, p99 float64) {
	if len(ms) == 0 {
		return 0, 0
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	return stat.Quantile(0.5, stat.Empirical, s, nil), stat.Quantile(0.99, stat.Empirical, s, nil)
}
