package sim

import (
	"fmt"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// RestoreBooted recreates a scale set whose instance i runs versions[i],
// booted, with its extensions provisioned and healthy: all a control plane
// that kept no snapshot of the fleet (a state.db written before snapshots
// existed) can say about VMs that kept running while it was down. Data
// disks get their initial contents. Restore brings back a Snapshot exactly.
func (f *Fleet) RestoreBooted(model orchestrator.ScaleSet, versions []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sets[model.Name]; ok {
		return fmt.Errorf("sim: scale set %s exists", model.Name)
	}
	if len(versions) != model.Capacity {
		return fmt.Errorf("sim: restore %s: %d versions for %d instances", model.Name, len(versions), model.Capacity)
	}
	s := &scaleSet{index: int32(len(f.byIdx)), model: model, vms: make([]vm, model.Capacity), obs: make([]plan.Instance, model.Capacity), extra: map[int32]*extra{}, dataBase: f.dataBase(model.Name)}
	for i := range s.vms {
		zone, ud := model.Placement(i)
		s.vms[i] = vm{booted: true, verdict: true}
		s.obs[i] = plan.Instance{ID: i, Zone: zone, UpdateDomain: ud, Version: versions[i], Running: true, Provisioning: plan.ProvisioningSucceeded, Health: plan.HealthHealthy}
	}
	f.byIdx = append(f.byIdx, s)
	f.sets[model.Name] = s
	return nil
}
