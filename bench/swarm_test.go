package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestSwarmUpdateEndedJudgesThisUpdatesStatusOnly(t *testing.T) {
	start := time.Date(2026, 11, 27, 18, 47, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := start.Add(d); return &t }
	tests := []struct {
		name    string
		status  *swarm.UpdateStatus
		ended   bool
		wantErr string
	}{
		{name: "no status yet", status: nil},
		{name: "an earlier update's completion", status: &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, StartedAt: at(-time.Hour)}},
		{name: "updating", status: &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: at(time.Second)}},
		{name: "completed", status: &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, StartedAt: at(time.Second)}, ended: true},
		{name: "rolling back", status: &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: at(time.Second)}},
		// The spec holds the old image again after a rollback: the status
		// must end the wait on its own.
		{name: "rolled back", status: &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, StartedAt: at(time.Second), Message: "rollback completed"}, ended: true, wantErr: "rollback_completed"},
		{name: "paused", status: &swarm.UpdateStatus{State: swarm.UpdateStatePaused, StartedAt: at(time.Second), Message: "update paused due to failure"}, ended: true, wantErr: "paused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ended, err := swarmUpdateEnded(tc.status, start)
			if ended != tc.ended {
				t.Fatalf("ended = %v, want %v", ended, tc.ended)
			}
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}
