package orchestrator

import (
	"fmt"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// History window (R-HIST-1).
const (
	HistoryEntries = 5
	HistoryWindow  = 61 * 24 * time.Hour // two months
)

// UpgradeHistory is one entry of osUpgradeHistory, Azure's
// UpgradeOperationHistoricalStatusInfo shape.
type UpgradeHistory struct {
	Properties HistoryProperties `json:"properties"`
	Type       string            `json:"type"`
	Location   string            `json:"location,omitempty"`
}

// HistoryProperties are the fields of an upgrade attempt.
type HistoryProperties struct {
	RunningStatus        RunningStatus        `json:"runningStatus"`
	Progress             Progress             `json:"progress"`
	Error                *APIError            `json:"error,omitempty"`
	StartedBy            string               `json:"startedBy"`
	TargetImageReference TargetImageReference `json:"targetImageReference"`
	RollbackInfo         RollbackInfo         `json:"rollbackInfo"`
}

// RunningStatus is the attempt's status. Azure names the end endTime; SPEC
// says completedTime: both carry the same instant.
type RunningStatus struct {
	Code          string     `json:"code"`
	StartTime     time.Time  `json:"startTime"`
	EndTime       *time.Time `json:"endTime,omitempty"`
	CompletedTime *time.Time `json:"completedTime,omitempty"`
}

// Progress counts instances, Azure's RollingUpgradeProgressInfo.
type Progress struct {
	SuccessfulInstanceCount int `json:"successfulInstanceCount"`
	FailedInstanceCount     int `json:"failedInstanceCount"`
	InProgressInstanceCount int `json:"inProgressInstanceCount"`
	PendingInstanceCount    int `json:"pendingInstanceCount"`
}

// TargetImageReference is the version the attempt upgraded to.
type TargetImageReference struct {
	Publisher string `json:"publisher,omitempty"`
	Offer     string `json:"offer,omitempty"`
	SKU       string `json:"sku,omitempty"`
	Version   string `json:"version"`
	ID        string `json:"id,omitempty"` // gallery images
}

// RollbackInfo counts rollbacks.
type RollbackInfo struct {
	SuccessfullyRolledbackInstanceCount int       `json:"successfullyRolledbackInstanceCount"`
	FailedRolledbackInstanceCount       int       `json:"failedRolledbackInstanceCount"`
	RollbackError                       *APIError `json:"rollbackError,omitempty"`
}

// APIError is ARM's error body.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

// HistoryOf builds an attempt's history entry.
func HistoryOf(a *Attempt, region string) UpgradeHistory {
	r := a.Rollout
	code := string(r.Status())
	if r.Status() == plan.StatusNotStarted {
		// Azure has no NotStarted code: a refused pre-check is a fault.
		code = string(plan.StatusFaulted)
	}
	start := r.StartTime()
	if start.IsZero() {
		start = r.Created()
	}
	h := UpgradeHistory{Type: "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades", Location: region}
	p := &h.Properties
	p.RunningStatus = RunningStatus{Code: code, StartTime: start}
	if r.Status().Terminal() {
		end := r.EndTime()
		p.RunningStatus.EndTime, p.RunningStatus.CompletedTime = &end, &end
	}
	c := r.Progress()
	if !r.Planned() {
		c.Pending = 0
	}
	p.Progress = Progress{SuccessfulInstanceCount: c.Successful, FailedInstanceCount: c.Failed, InProgressInstanceCount: c.InProgress, PendingInstanceCount: c.Pending}
	if r.ErrorCode() != "" {
		p.Error = &APIError{Code: r.ErrorCode(), Message: r.ErrorMessage()}
	}
	p.StartedBy = a.StartedBy
	t := a.Target
	if t.IsGallery() {
		p.TargetImageReference = TargetImageReference{ID: fmt.Sprintf("/galleries/%s/images/%s/versions/%s", t.Gallery, t.GalleryImage, t.Version), Version: t.Version}
	} else {
		p.TargetImageReference = TargetImageReference{Publisher: t.Publisher, Offer: t.Offer, SKU: t.SKU, Version: t.Version}
	}
	p.RollbackInfo = RollbackInfo{SuccessfullyRolledbackInstanceCount: c.RolledBack, FailedRolledbackInstanceCount: c.RollbackFailed}
	if c.RollbackFailed > 0 {
		p.RollbackInfo.RollbackError = &APIError{Code: "RollbackFailed", Message: fmt.Sprintf("%d instances did not come back healthy on their previous OS disk", c.RollbackFailed)}
	}
	return h
}

// History is osUpgradeHistory (R-HIST-1): the last five attempts started
// within two months of now, newest first.
func (o *Orchestrator) History(name string) ([]UpgradeHistory, error) {
	var out []UpgradeHistory
	err := o.View(name, func(rec *SetRecord) {
		now := o.clock.Now()
		for i := len(rec.Attempts) - 1; i >= 0 && len(out) < HistoryEntries; i-- {
			a := rec.Attempts[i]
			if now.Sub(a.Rollout.Created()) > HistoryWindow {
				break
			}
			out = append(out, HistoryOf(a, rec.Model.Region))
		}
	})
	return out, err
}

// LatestRollout is rollingUpgrades/latest (R-HIST-3): the attempt in
// progress or the last one; ok is false when there was none. A manual
// trigger accepted and not yet started by a Step is the latest: an
// accepted POST osRollingUpgrade is seen at once, rolling forward.
func (o *Orchestrator) LatestRollout(name string) (h UpgradeHistory, ok bool, err error) {
	h, ok, _, err = o.LatestRolloutStatus(name)
	return h, ok, err
}

// LatestRolloutStatus is LatestRollout and whether a cancel was requested
// of that rollout, read under one turn of the lock (the API's GET).
func (o *Orchestrator) LatestRolloutStatus(name string) (h UpgradeHistory, ok, cancelRequested bool, err error) {
	err = o.View(name, func(rec *SetRecord) {
		if a := o.pendingAttempt(rec); a != nil {
			h, ok = HistoryOf(a, rec.Model.Region), true
			return
		}
		if a := rec.Last(); a != nil {
			h, ok, cancelRequested = HistoryOf(a, rec.Model.Region), true, a.Rollout.CancelRequested()
		}
	})
	return h, ok, cancelRequested, err
}

// pendingAttempt is the attempt a pending manual trigger will start, as
// it is before its first step; nil when none is pending. The caller holds
// o.mu.
func (o *Orchestrator) pendingAttempt(rec *SetRecord) *Attempt {
	if !rec.ManualPending || rec.Active() != nil {
		return nil
	}
	version, ok := o.manualTarget(rec)
	if !ok {
		return nil
	}
	at := rec.ManualRequestedAt
	if at.IsZero() {
		at = o.clock.Now() // a trigger stored by a release without the field
	}
	target := rec.Model.Image
	target.Version = version
	r, err := plan.NewRollout(rec.Model.Policy(), plan.Image{Ref: target.Ref(), Version: version}, rec.Model.Zones, true, at)
	if err != nil {
		return nil // a validated model's policy is valid: start panics on this
	}
	return &Attempt{ID: len(rec.Attempts) + 1, StartedBy: StartedByUser, Target: target, Rollout: r}
}
