package harness

import (
	"fmt"
	"time"

	"github.com/osupgrade/osupgrade/harness/scenario"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Scenario defaults that are not Azure's.
const (
	DefaultRegion   = "eastus"
	DefaultBootTime = 30 * time.Second
	DefaultUntil    = 30 * 24 * time.Hour
)

// ModelOf turns a scenario's scale set into the orchestrator's model; times
// in the scenario (SAS expiry) are relative to start.
func ModelOf(s *scenario.ScaleSet, start time.Time) (orchestrator.ScaleSet, error) {
	img, err := orchestrator.ParseImageReference(s.Image)
	if err != nil {
		return orchestrator.ScaleSet{}, err
	}
	health := plan.HealthExtension
	if s.Health != "" {
		if health, err = plan.ParseHealthMode(s.Health); err != nil {
			return orchestrator.ScaleSet{}, err
		}
	}
	m := orchestrator.ScaleSet{
		Name:                     s.Name,
		Region:                   or(s.Region, DefaultRegion),
		Zones:                    s.Zones,
		UpdateDomains:            5,
		Capacity:                 s.Instances,
		OS:                       or(s.OS, "linux"),
		Image:                    img,
		Health:                   health,
		LoadBalancerSKU:          or(s.LoadBalancerSKU, "Standard"),
		SinglePlacementGroup:     true,
		CustomData:               s.CustomData,
		DataDisks:                1,
		APIVersion:               or(s.APIVersion, orchestrator.DefaultAPIVersion),
		EnableAutomaticOSUpgrade: true,
		DisableAutomaticRollback: s.UpgradePolicy.DisableAutomaticRollback,
		Rolling:                  s.UpgradePolicy.Rolling(),
		BootTime:                 DefaultBootTime,
	}
	if s.UpdateDomains != nil {
		m.UpdateDomains = *s.UpdateDomains
	}
	if s.DataDisks != nil {
		m.DataDisks = *s.DataDisks
	}
	if s.SinglePlacementGroup != nil {
		m.SinglePlacementGroup = *s.SinglePlacementGroup
	}
	if s.BootTime != nil {
		m.BootTime = s.BootTime.Duration
	}
	if m.OS == "windows" {
		// A scenario that says nothing has done what Azure asks (R-REQ-4).
		off := false
		m.EnableAutomaticUpdates = &off
	}
	if s.EnableAutomaticUpdates != nil {
		v := *s.EnableAutomaticUpdates
		m.EnableAutomaticUpdates = &v
	}
	if h := s.AppHealth; h != nil {
		m.AppHealth = orchestrator.AppHealth{Protocol: h.Protocol, Port: h.Port, RequestPath: h.RequestPath, IntervalInSeconds: h.IntervalInSeconds, NumberOfProbes: h.NumberOfProbes}
		if h.GracePeriod != nil {
			m.AppHealth.GracePeriod = h.GracePeriod.Duration
		}
	}
	if sf := s.ServiceFabric; sf != nil {
		m.ServiceFabric = &orchestrator.ServiceFabric{Durability: sf.Durability, ExtensionDurability: or(sf.ExtensionDurability, sf.Durability), TypeHandlerVersion: sf.TypeHandlerVersion, StatelessOnly: sf.StatelessOnly}
	}
	up := s.UpgradePolicy
	if up.EnableAutomaticOSUpgrade != nil {
		m.EnableAutomaticOSUpgrade = *up.EnableAutomaticOSUpgrade
	}
	for _, e := range s.Extensions {
		x := orchestrator.Extension{Name: e.Name, Type: or(e.Type, "CustomScript"), Publisher: e.Publisher, TypeHandlerVersion: e.TypeHandlerVersion, ProvisionAfterExtensions: e.ProvisionAfterExtensions}
		if e.SASExpiresAt != nil {
			x.SASExpiresAt = start.Add(e.SASExpiresAt.Duration)
		}
		m.Extensions = append(m.Extensions, x)
	}
	return m, nil
}

// imageVersionOf turns a scenario image into a catalog entry.
func imageVersionOf(img scenario.Image, start time.Time, defaultRegions []string) (orchestrator.ImageVersion, error) {
	ref, err := orchestrator.ParseImageReference(img.Image)
	if err != nil {
		return orchestrator.ImageVersion{}, err
	}
	if ref.Version == "" || ref.Version == "latest" {
		return orchestrator.ImageVersion{}, fmt.Errorf("image %s: a published image needs a concrete version", img.Image)
	}
	v := orchestrator.ImageVersion{Ref: ref.Ref(), Version: ref.Version, PublishedAt: start.Add(img.PublishAt.Duration), ExcludeFromLatest: img.ExcludeFromLatest}
	if ref.IsGallery() {
		v.Regions = img.Regions
		if len(v.Regions) == 0 {
			v.Regions = defaultRegions
		}
	}
	return v, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Backend is a fleet the harness can build worlds on: the whole backend
// contract (package backend).
type Backend = backend.Fleet
