package soak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// A rollout the soak starts is planned in full before it starts, so that it
// can be replayed alone: the scale set's model, the two versions of an image
// no other set uses, the faults (injected before the start, each settled
// for settleTime), and the start. Nothing else the load does touches that
// set between its creation and its outcome being read but reads (GET of the
// set, its VMs, latest, history, journal); cancels, PATCHes and updates go
// to the churn sets, whose outcomes are not compared: a cancel or an update
// racing a rollout on a real clock has no single uninterrupted outcome.
type rolloutPlan struct {
	Set      string `json:"set"`
	Case     string `json:"case"`
	Image    string `json:"image"` // publisher:offer:sku, this rollout's alone
	From     string `json:"from"`
	To       string `json:"to"`
	Capacity int    `json:"capacity"`
	MaxBatch int    `json:"maxBatchInstancePercent"`
	Pause    string `json:"pauseTimeBetweenBatches"`
	// Prioritize is prioritizeUnhealthyInstances, NoRollback
	// disableAutomaticRollback.
	Prioritize bool           `json:"prioritizeUnhealthyInstances,omitempty"`
	NoRollback bool           `json:"disableAutomaticRollback,omitempty"`
	Faults     []faultRequest `json:"faults,omitempty"`
}

// faultRequest is the body of POST /osupgrade/faults.
type faultRequest struct {
	ScaleSet  string `json:"scaleSet,omitempty"`
	Instances []int  `json:"instances,omitempty"`
	Fault     string `json:"fault"`
	Delay     string `json:"delay,omitempty"`
	Period    string `json:"period,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind,omitempty"`
}

// rolloutCase is a kind of rollout the load draws: its faults have one
// outcome whatever the timing of the requests around them (no fault near
// the 5-minute health deadline, none switched during the rollout).
type rolloutCase struct {
	name       string
	capacity   int
	maxBatch   int
	pause      string
	prioritize bool
	noRollback bool
	faults     func(p *rolloutPlan) []faultRequest
}

func badImage(kind string) func(p *rolloutPlan) []faultRequest {
	return func(p *rolloutPlan) []faultRequest {
		return []faultRequest{{Fault: "bad-image", Version: p.To, Kind: kind}}
	}
}

func onInstances(fault string, ids ...int) func(p *rolloutPlan) []faultRequest {
	return func(p *rolloutPlan) []faultRequest {
		return []faultRequest{{ScaleSet: p.Set, Instances: ids, Fault: fault}}
	}
}

var rolloutCases = []rolloutCase{
	{name: "clean", capacity: 10, maxBatch: 20, pause: "PT0S"},
	{name: "clean-paused", capacity: 6, maxBatch: 34, pause: "PT30S"},
	{name: "bad-image-never-healthy", capacity: 10, maxBatch: 20, pause: "PT0S", faults: badImage("never-healthy")},
	{name: "bad-image-crash", capacity: 8, maxBatch: 25, pause: "PT0S", faults: badImage("crash")},
	{name: "bad-image-extension-failure-no-rollback", capacity: 10, maxBatch: 20, pause: "PT0S", noRollback: true, faults: badImage("extension-failure")},
	{name: "one-app-unhealthy", capacity: 10, maxBatch: 20, pause: "PT0S", faults: onInstances("app-unhealthy", 7)},
	{name: "one-app-unhealthy-prioritized", capacity: 10, maxBatch: 20, pause: "PT0S", prioritize: true, faults: onInstances("app-unhealthy", 7)},
	{name: "three-app-unhealthy", capacity: 10, maxBatch: 20, pause: "PT0S", faults: onInstances("app-unhealthy", 1, 4, 8)},
	{name: "one-down", capacity: 12, maxBatch: 25, pause: "PT0S", faults: onInstances("down", 5)},
	{name: "slow-boot-2m", capacity: 10, maxBatch: 20, pause: "PT0S", faults: func(p *rolloutPlan) []faultRequest {
		return []faultRequest{{ScaleSet: p.Set, Instances: []int{0, 1, 2}, Fault: "slow-boot", Delay: "2m"}}
	}},
	{name: "slow-boot-10m", capacity: 10, maxBatch: 20, pause: "PT0S", faults: func(p *rolloutPlan) []faultRequest {
		return []faultRequest{{ScaleSet: p.Set, Instances: []int{3}, Fault: "slow-boot", Delay: "10m"}}
	}},
	{name: "one-extension-failure", capacity: 10, maxBatch: 20, pause: "PT0S", faults: onInstances("extension-failure", 2)},
}

// planRollout is rollout number n of worker w: the case is drawn in turn
// from a seed-shifted start, the names and versions are unique to it.
func planRollout(seed uint64, w, n int) rolloutPlan {
	c := rolloutCases[(int(seed%uint64(len(rolloutCases)))+w*5+n)%len(rolloutCases)]
	p := rolloutPlan{
		Set: fmt.Sprintf("soak-rollout-%d", w), Case: c.name,
		Image: fmt.Sprintf("Soak:Rollout:w%d", w),
		// Unique across workers and rounds (bad versions are the fleet's,
		// by version string), increasing within the image.
		From: fmt.Sprintf("%d.%d.1", n+1, w), To: fmt.Sprintf("%d.%d.2", n+1, w),
		Capacity: c.capacity, MaxBatch: c.maxBatch, Pause: c.pause, Prioritize: c.prioritize, NoRollback: c.noRollback,
	}
	if c.faults != nil {
		p.Faults = c.faults(&p)
	}
	return p
}

// scaleSetBody is the ARM document of a scale set on image (publisher:offer:
// sku, "latest"), health by the Application Health extension, automatic OS
// upgrade off: only the soak's own requests start rollouts.
func scaleSetBody(image string, capacity, maxBatch int, pause string, prioritize, noRollback bool, bootTime string) map[string]any {
	parts := strings.SplitN(image+"::", ":", 4)
	pub, offer, sku := parts[0], parts[1], parts[2]
	return map[string]any{
		"location": "eastus",
		"sku":      map[string]any{"name": "Standard_B1s", "capacity": capacity},
		"tags":     map[string]string{"osupgrade.bootTime": bootTime},
		"properties": map[string]any{
			"upgradePolicy": map[string]any{
				"mode":                     "Rolling",
				"automaticOSUpgradePolicy": map[string]any{"enableAutomaticOSUpgrade": false, "disableAutomaticRollback": noRollback},
				"rollingUpgradePolicy": map[string]any{
					"maxBatchInstancePercent": maxBatch, "maxUnhealthyInstancePercent": 20, "maxUnhealthyUpgradedInstancePercent": 20,
					"pauseTimeBetweenBatches": pause, "prioritizeUnhealthyInstances": prioritize,
				},
			},
			"virtualMachineProfile": map[string]any{
				"osProfile":      map[string]any{"computerNamePrefix": "soak", "adminUsername": "azure"},
				"storageProfile": map[string]any{"imageReference": map[string]any{"publisher": pub, "offer": offer, "sku": sku, "version": "latest"}},
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

// clockWait lets scenario time pass: a real-clock server's by sleeping, a
// virtual one's by moving its clock.
type clockWait func(ctx context.Context, d time.Duration) error

// Scenario times of a planned rollout's steps, the same for the soak and
// its twin.
const (
	settleTime   = time.Minute      // after the faults, before the start
	pollEvery    = 30 * time.Second // between reads of latest
	afterEnd     = 2 * time.Minute  // after the end, before the outcome is read
	rolloutLimit = 3 * time.Hour    // a rollout not ended by then is a violation
)

// errStatus is an answer other than the one a step wants.
type errStatus struct {
	step   string
	status int
	body   string
}

func (e *errStatus) Error() string {
	b := e.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%s: status %d: %s", e.step, e.status, b)
}

// expect is call, with any status but codes an error naming step.
func (c *client) expect(ctx context.Context, step, kind, method, path string, body any, codes ...int) (*response, error) {
	r, err := c.call(ctx, kind, method, path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	if !slices.Contains(codes, r.Status) {
		return r, &errStatus{step: step, status: r.Status, body: string(r.Body)}
	}
	return r, nil
}

// waitOperation follows an Azure-AsyncOperation until it is not InProgress.
func waitOperation(ctx context.Context, c *client, kind string, r *response, wait clockWait) (string, error) {
	u := r.Header.Get("Azure-AsyncOperation")
	if u == "" {
		return "Succeeded", nil
	}
	for i := 0; ; i++ {
		resp, err := c.expect(ctx, "GET operation", "GET operation ("+kind+")", http.MethodGet, u, nil, http.StatusOK)
		if err != nil {
			return "", err
		}
		var st struct {
			Status string `json:"status"`
		}
		if err := resp.decode(&st); err != nil {
			return "", err
		}
		if st.Status != "InProgress" {
			return st.Status, nil
		}
		if i > 100 {
			return "", fmt.Errorf("operation %s still InProgress after %d reads", kind, i)
		}
		if err := wait(ctx, 5*time.Second); err != nil {
			return "", err
		}
	}
}

// prepare publishes From, creates the set on it, publishes To and injects
// the faults, then lets them settle.
func (p *rolloutPlan) prepare(ctx context.Context, c *client, wait clockWait, bootTime string) error {
	if _, err := c.expect(ctx, "publish "+p.From, "POST images", http.MethodPost, "/osupgrade/images", map[string]string{"image": p.Image, "version": p.From}, http.StatusCreated); err != nil {
		return err
	}
	body := scaleSetBody(p.Image, p.Capacity, p.MaxBatch, p.Pause, p.Prioritize, p.NoRollback, bootTime)
	r, err := c.expect(ctx, "create "+p.Set, "PUT scale set", http.MethodPut, setsPath+"/"+p.Set, body, http.StatusCreated)
	if err != nil {
		return err
	}
	if st, err := waitOperation(ctx, c, "create", r, wait); err != nil || st != "Succeeded" {
		return fmt.Errorf("create %s: operation %s %v", p.Set, st, err)
	}
	if _, err := c.expect(ctx, "publish "+p.To, "POST images", http.MethodPost, "/osupgrade/images", map[string]string{"image": p.Image, "version": p.To}, http.StatusCreated); err != nil {
		return err
	}
	for _, f := range p.Faults {
		if _, err := c.expect(ctx, "fault "+f.Fault, "POST faults", http.MethodPost, "/osupgrade/faults", f, http.StatusOK); err != nil {
			return err
		}
	}
	return wait(ctx, settleTime)
}

// start is the manual trigger.
func (p *rolloutPlan) start(ctx context.Context, c *client) error {
	_, err := c.expect(ctx, "start "+p.Set, "POST osRollingUpgrade", http.MethodPost, setsPath+"/"+p.Set+"/osRollingUpgrade", nil, http.StatusAccepted)
	return err
}

// latest is GET rollingUpgrades/latest: the running status's code and the
// error's.
func latest(ctx context.Context, c *client, set string) (code, errorCode string, err error) {
	r, err := c.expect(ctx, "latest "+set, "GET latest", http.MethodGet, setsPath+"/"+set+"/rollingUpgrades/latest", nil, http.StatusOK)
	if err != nil {
		return "", "", err
	}
	var out struct {
		Properties struct {
			RunningStatus struct {
				Code string `json:"code"`
			} `json:"runningStatus"`
			Error *struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"properties"`
	}
	if err := r.decode(&out); err != nil {
		return "", "", err
	}
	if e := out.Properties.Error; e != nil {
		errorCode = e.Code
	}
	return out.Properties.RunningStatus.Code, errorCode, nil
}

// errNotEnded is a rollout still rolling forward at rolloutLimit.
var errNotEnded = errors.New("the rollout did not end")

// awaitEnd reads latest every pollEvery until the rollout has ended; read
// runs between reads (the soak's extra reads of the set; nil for a twin).
func awaitEnd(ctx context.Context, c *client, set string, wait clockWait, read func(ctx context.Context)) error {
	for waited := time.Duration(0); ; waited += pollEvery {
		code, _, err := latest(ctx, c, set)
		var es *errStatus
		switch {
		case errors.As(err, &es) && es.status == http.StatusNotFound && waited < 3*pollEvery:
			// The manual trigger is pending: no rollout yet.
		case err != nil:
			return err
		case code != "" && code != "RollingForward":
			return nil
		}
		if waited >= rolloutLimit {
			return fmt.Errorf("%s after %v: %w", set, rolloutLimit, errNotEnded)
		}
		if read != nil {
			read(ctx)
		}
		if err := wait(ctx, pollEvery); err != nil {
			return err
		}
	}
}

// Outcome is how a rollout ended and what every instance runs.
type Outcome struct {
	Status    string   `json:"status"`
	ErrorCode string   `json:"errorCode,omitempty"`
	Versions  []string `json:"versions"` // by instance id
	Health    []string `json:"health"`   // vmHealth code by instance id
}

func (o Outcome) equal(x Outcome) bool {
	return o.Status == x.Status && o.ErrorCode == x.ErrorCode && slices.Equal(o.Versions, x.Versions) && slices.Equal(o.Health, x.Health)
}

// outcome waits afterEnd, then reads latest and every VM with its instance
// view, following nextLink.
func (p *rolloutPlan) outcome(ctx context.Context, c *client, wait clockWait) (Outcome, error) {
	var o Outcome
	if err := wait(ctx, afterEnd); err != nil {
		return o, err
	}
	var err error
	if o.Status, o.ErrorCode, err = latest(ctx, c, p.Set); err != nil {
		return o, err
	}
	vms, err := listVMs(ctx, c, p.Set, true)
	if err != nil {
		return o, err
	}
	for _, vm := range vms {
		o.Versions = append(o.Versions, vm.Properties.StorageProfile.ImageReference.ExactVersion)
		h := ""
		if iv := vm.Properties.InstanceView; iv != nil && iv.VMHealth != nil {
			h = iv.VMHealth.Status.Code
		}
		o.Health = append(o.Health, h)
	}
	return o, nil
}

type vmDoc struct {
	InstanceID string `json:"instanceId"`
	Properties struct {
		StorageProfile struct {
			ImageReference struct {
				ExactVersion string `json:"exactVersion"`
			} `json:"imageReference"`
		} `json:"storageProfile"`
		InstanceView *struct {
			VMHealth *struct {
				Status struct {
					Code string `json:"code"`
				} `json:"status"`
			} `json:"vmHealth"`
		} `json:"instanceView"`
	} `json:"properties"`
}

// listVMs follows nextLink to the end (at most 100 pages).
func listVMs(ctx context.Context, c *client, set string, expand bool) ([]vmDoc, error) {
	path := setsPath + "/" + set + "/virtualMachines"
	if expand {
		path += "?$expand=instanceView"
	}
	var out []vmDoc
	for page := 0; path != ""; page++ {
		if page == 100 {
			return out, fmt.Errorf("list VMs of %s: more than 100 pages", set)
		}
		r, err := c.expect(ctx, "list VMs of "+set, "GET VMs", http.MethodGet, path, nil, http.StatusOK)
		if err != nil {
			return out, err
		}
		var body struct {
			Value    []vmDoc `json:"value"`
			NextLink string  `json:"nextLink"`
		}
		if err := r.decode(&body); err != nil {
			return out, err
		}
		out = append(out, body.Value...)
		path = body.NextLink
	}
	return out, nil
}

// remove deletes a set and waits for the operation.
func remove(ctx context.Context, c *client, set string, wait clockWait) error {
	r, err := c.expect(ctx, "delete "+set, "DELETE scale set", http.MethodDelete, setsPath+"/"+set, nil, http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return err
	}
	if r.Status == http.StatusAccepted {
		if st, err := waitOperation(ctx, c, "delete", r, wait); err != nil || st != "Succeeded" {
			return fmt.Errorf("delete %s: operation %s %v", set, st, err)
		}
	}
	return nil
}
