package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/api"
)

// ServeConfig is the serve-under-a-fleet case: Sets scale sets of
// Instances each on the sim, every one rolling (a manual trigger each, so
// that all roll at once), while a Go client on loopback sends Requests GETs
// of each kind at Rate per second from Clients connections at most.
type ServeConfig struct {
	Sets      int
	Instances int
	Requests  int
	Rate      float64
	Clients   int
	// TimeScale is scenario seconds per wall second of the server's clock:
	// high enough that batches move while the client measures, low enough
	// that the rollouts outlast the measurement.
	TimeScale float64
}

// DefaultServeConfig is the case, 1,000 sets rolling at once; quick
// is 100 sets and fewer requests: creating 1,000 sets through the API took
// over half an hour on this 2-core machine under a load of 100 to 400.
func DefaultServeConfig(quick bool) *ServeConfig {
	c := &ServeConfig{Sets: 1_000, Instances: 100, Requests: 1_000, Rate: 100, Clients: 4, TimeScale: 10}
	if quick {
		c.Sets, c.Requests = 100, 300
	}
	return c
}

// ServeCase is what the serve case measured: the latency of each GET in
// milliseconds (Summary's mean and interval; its P50 and P95), its p50 and
// p99 with distribution-free 95% intervals, and how many of the
// rollingUpgrades/latest answers showed a rollout in progress.
type ServeCase struct {
	Sets      int     `json:"sets"`
	Instances int     `json:"instances"`
	Requests  int     `json:"requests"` // of each kind
	Rate      float64 `json:"rate"`     // requests per second, both kinds together
	Clients   int     `json:"clients"`
	Setup     float64 `json:"setupSeconds"` // creating the sets and triggering their rollouts
	// Measured is how long the requests took, wall seconds.
	Measured  float64        `json:"measuredSeconds"`
	ScaleSet  Summary        `json:"scaleSet"`
	Latest    Summary        `json:"rollingUpgradesLatest"`
	Quantiles []QuantileCI   `json:"quantiles"`
	Statuses  map[string]int `json:"latestStatuses"` // runningStatus.code of the latest answers
	Errors    int            `json:"errors"`
	// ErrorKinds counts the failed requests by GET and HTTP status (or
	// the transport's error).
	ErrorKinds map[string]int `json:"errorKinds,omitempty"`
}

// QuantileCI is a quantile of one GET's latencies with a distribution-free
// 95% interval: the order statistics whose ranks bound n·p ± 1.96·√(n·p·(1−p))
// (the normal approximation of the binomial count below the quantile).
type QuantileCI struct {
	Request string  `json:"request"`
	P       float64 `json:"p"`
	Value   float64 `json:"value"`
	CILo    float64 `json:"ciLo"`
	CIHi    float64 `json:"ciHi"`
	N       int     `json:"n"`
}

// P99 is the 99th percentile of request ("scaleSet" or
// "rollingUpgradesLatest"), in ms; 0 when not measured.
func (c ServeCase) P99(request string) float64 { return c.Quantile(request, 0.99).Value }

// Quantile is the p-quantile of request; zero when not measured.
func (c ServeCase) Quantile(request string, p float64) QuantileCI {
	for _, q := range c.Quantiles {
		if q.Request == request && q.P == p {
			return q
		}
	}
	return QuantileCI{}
}

// quantileCI computes QuantileCI of xs (any order) at p.
func quantileCI(request string, xs []float64, p float64) QuantileCI {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	q := QuantileCI{Request: request, P: p, N: n}
	if n == 0 {
		return q
	}
	at := func(rank int) float64 { return s[min(max(rank, 1), n)-1] } // 1-based
	q.Value = at(int(math.Ceil(p * float64(n))))
	half := 1.96 * math.Sqrt(float64(n)*p*(1-p))
	q.CILo = at(int(math.Floor(float64(n)*p - half)))
	q.CIHi = at(int(math.Ceil(float64(n)*p + half)))
	return q
}

const (
	serveSub   = "00000000-0000-0000-0000-000000000b0c"
	serveRG    = "rg-bench"
	serveToken = "bench-token"
	serveImage = "Canonical:UbuntuServer:18.04-LTS"
	// serveVersion is newer than every version the server knows of the
	// image when it starts, the one its sets are created on.
	serveVersion = "99.0.0"
)

// RunServe starts the API server of `osupgrade serve` on the sim with a
// scaled real clock, on a loopback listener in this process, creates
// cfg.Sets sets, publishes a newer version of their image, triggers every set's rollout and
// measures the GETs while they roll.
func RunServe(ctx context.Context, cfg ServeConfig) (ServeCase, error) {
	c := ServeCase{Sets: cfg.Sets, Instances: cfg.Instances, Requests: cfg.Requests, Rate: cfg.Rate, Clients: cfg.Clients, Statuses: map[string]int{}}
	if cfg.Sets < 1 || cfg.Instances < 1 || cfg.Requests < 1 || cfg.Rate <= 0 || cfg.Clients < 1 || cfg.TimeScale <= 0 {
		return c, fmt.Errorf("bench: serve case %+v: every figure must be positive", cfg)
	}
	dir, err := os.MkdirTemp("", "osupgrade-bench-serve-")
	if err != nil {
		return c, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := api.Open(ctx, api.Options{DataDir: dir, Fleet: "sim", Clock: "real", TimeScale: cfg.TimeScale, WallNow: time.Now, Token: serveToken, Seed: 1})
	if err != nil {
		return c, fmt.Errorf("bench: serve: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return c, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	defer func() { cancel(); <-runDone }()

	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients, MaxConnsPerHost: cfg.Clients}, Timeout: time.Minute}
	call := func(method, path string, body any) (int, []byte, error) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, nil, err
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return 0, nil, err
		}
		q := req.URL.Query()
		q.Set("api-version", "2024-11-01")
		req.URL.RawQuery = q.Encode()
		req.Header.Set("Authorization", "Bearer "+serveToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	vmss := func(k int) string {
		return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/serve-%d", serveSub, serveRG, k)
	}

	began := time.Now()
	for k := range cfg.Sets {
		if code, b, err := call(http.MethodPut, vmss(k), serveSetBody(k, cfg.Instances)); err != nil || code >= 300 {
			return c, fmt.Errorf("bench: serve: create set %d: %d %s %v", k, code, b, err)
		}
	}
	if code, b, err := call(http.MethodPost, "/osupgrade/images", map[string]any{"image": serveImage, "version": serveVersion}); err != nil || code >= 300 {
		return c, fmt.Errorf("bench: serve: publish %s: %d %s %v", serveVersion, code, b, err)
	}
	for k := range cfg.Sets {
		if code, b, err := call(http.MethodPost, vmss(k)+"/osRollingUpgrade", nil); err != nil || code >= 300 {
			return c, fmt.Errorf("bench: serve: trigger set %d: %d %s %v", k, code, b, err)
		}
	}
	c.Setup = time.Since(began).Seconds()

	// Bounded load: Clients workers, each one request at a time, paced so
	// that together they send Rate per second (fewer when answers are
	// slower than that).
	type sample struct {
		latest bool
		ms     float64
		status string
		err    bool
		why    string
	}
	var mu sync.Mutex
	var samples []sample
	var wg sync.WaitGroup
	total := 2 * cfg.Requests
	interval := time.Duration(float64(cfg.Clients) / cfg.Rate * float64(time.Second))
	start := time.Now()
	for w := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(1, uint64(w)))
			next := time.Now()
			for i := w; i < total; i += cfg.Clients {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				next = next.Add(interval)
				latest := i%2 == 1
				path := vmss(rng.IntN(cfg.Sets))
				if latest {
					path += "/rollingUpgrades/latest"
				}
				t0 := time.Now()
				code, b, err := call(http.MethodGet, path, nil)
				s := sample{latest: latest, ms: float64(time.Since(t0).Nanoseconds()) / 1e6, err: err != nil || code != http.StatusOK}
				kind := "GET scaleSet"
				if latest {
					kind = "GET rollingUpgrades/latest"
				}
				switch {
				case err != nil:
					s.why = kind + ": " + err.Error()
				case code != http.StatusOK:
					s.why = fmt.Sprintf("%s: %d %.80s", kind, code, b)
				}
				if latest && !s.err {
					var body struct {
						Properties struct {
							RunningStatus struct {
								Code string `json:"code"`
							} `json:"runningStatus"`
						} `json:"properties"`
					}
					if json.Unmarshal(b, &body) == nil {
						s.status = body.Properties.RunningStatus.Code
					}
				}
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.Measured = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return c, err
	}
	var set, latest []float64
	for _, s := range samples {
		switch {
		case s.err:
			c.Errors++
			if c.ErrorKinds == nil {
				c.ErrorKinds = map[string]int{}
			}
			c.ErrorKinds[s.why]++
		case s.latest:
			latest = append(latest, s.ms)
			c.Statuses[s.status]++
		default:
			set = append(set, s.ms)
		}
	}
	c.ScaleSet, c.Latest = Summarize("ms", set), Summarize("ms", latest)
	for _, p := range []float64{0.5, 0.99} {
		c.Quantiles = append(c.Quantiles, quantileCI("scaleSet", set, p), quantileCI("rollingUpgradesLatest", latest, p))
	}
	return c, nil
}

// serveSetBody is an ARM scale set of n instances in three zones of one of
// the 30 regions, on the benchmark's platform image, with the Application
// Health extension.
func serveSetBody(k, n int) map[string]any {
	return map[string]any{
		"location": fleetRegions[k%len(fleetRegions)],
		"zones":    fleetZones,
		"tags":     map[string]any{"osupgrade.bootTime": "30s"}, // as the scenarios' model; the API's default is none
		"sku":      map[string]any{"name": "Standard_B1s", "capacity": n},
		"properties": map[string]any{
			"upgradePolicy": map[string]any{"mode": "Rolling"},
			"virtualMachineProfile": map[string]any{
				"osProfile": map[string]any{"computerNamePrefix": "web", "adminUsername": "azure", "adminPassword": "S3cret!pass"},
				"storageProfile": map[string]any{"imageReference": map[string]any{
					"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest",
				}},
				"extensionProfile": map[string]any{"extensions": []any{map[string]any{
					"name": "health",
					"properties": map[string]any{
						"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "1.0",
						"settings": map[string]any{"protocol": "http", "port": 80, "requestPath": "/health"},
					},
				}}},
			},
		},
	}
}
