package orchestrator

import (
	"fmt"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// ImageReference is the scale set model's image: a platform image
// (Publisher, Offer, SKU, Version) or a compute-gallery image (Gallery and
// GalleryImage, with an optional pinned Version).
type ImageReference struct {
	Publisher    string `json:"publisher,omitempty"`
	Offer        string `json:"offer,omitempty"`
	SKU          string `json:"sku,omitempty"`
	Version      string `json:"version,omitempty"`
	Gallery      string `json:"gallery,omitempty"`
	GalleryImage string `json:"galleryImage,omitempty"`
}

// IsGallery reports a compute-gallery image.
func (r ImageReference) IsGallery() bool { return r.Gallery != "" }

// Ref is the version-less name the catalog and fleets use:
// "publisher:offer:sku" or "gallery:NAME/IMAGE".
func (r ImageReference) Ref() string {
	if r.IsGallery() {
		return "gallery:" + r.Gallery + "/" + r.GalleryImage
	}
	return r.Publisher + ":" + r.Offer + ":" + r.SKU
}

func (r ImageReference) String() string {
	if r.Version == "" {
		return r.Ref()
	}
	return r.Ref() + ":" + r.Version
}

// ParseImageReference reads "publisher:offer:sku:version" or
// "gallery:NAME/IMAGE[:version]".
func ParseImageReference(s string) (ImageReference, error) {
	if rest, ok := strings.CutPrefix(s, "gallery:"); ok {
		name, version, _ := strings.Cut(rest, ":")
		g, img, ok := strings.Cut(name, "/")
		if !ok || g == "" || img == "" || strings.Contains(img, "/") {
			return ImageReference{}, fmt.Errorf("gallery image %q: want gallery:NAME/IMAGE or gallery:NAME/IMAGE:VERSION", s)
		}
		return ImageReference{Gallery: g, GalleryImage: img, Version: version}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return ImageReference{}, fmt.Errorf("image %q: want publisher:offer:sku:version or gallery:NAME/IMAGE", s)
	}
	for i, p := range parts {
		if p == "" {
			return ImageReference{}, fmt.Errorf("image %q: %s is empty", s, [...]string{"publisher", "offer", "sku", "version"}[i])
		}
	}
	return ImageReference{Publisher: parts[0], Offer: parts[1], SKU: parts[2], Version: parts[3]}, nil
}

// Extension is one VM extension of the scale set model.
type Extension struct {
	Name                     string         `json:"name"`
	Publisher                string         `json:"publisher,omitempty"`
	Type                     string         `json:"type"`
	TypeHandlerVersion       string         `json:"typeHandlerVersion,omitempty"`
	ProvisionAfterExtensions []string       `json:"provisionAfterExtensions,omitempty"`
	Settings                 map[string]any `json:"settings,omitempty"`
	// SASExpiresAt is when the SAS token the extension downloads its payload
	// with expires; zero when it uses none (R-CRED-1).
	SASExpiresAt time.Time `json:"sasExpiresAt,omitzero"`
}

// AppHealth configures the Application Health extension (SPEC reference
// values). Zero fields take Azure's defaults.
type AppHealth struct {
	Protocol          string        `json:"protocol,omitempty"` // http | https | tcp
	Port              int           `json:"port,omitempty"`
	RequestPath       string        `json:"requestPath,omitempty"`
	IntervalInSeconds int           `json:"intervalInSeconds,omitempty"` // 5..60, default 5
	NumberOfProbes    int           `json:"numberOfProbes,omitempty"`    // 1..24, default 1
	GracePeriod       time.Duration `json:"gracePeriod,omitempty"`       // default interval × probes
}

// Interval is the probe interval with the default applied.
func (h AppHealth) Interval() time.Duration {
	if h.IntervalInSeconds == 0 {
		return 5 * time.Second
	}
	return time.Duration(h.IntervalInSeconds) * time.Second
}

// Probes is the number of probes with the default applied.
func (h AppHealth) Probes() int {
	if h.NumberOfProbes == 0 {
		return 1
	}
	return h.NumberOfProbes
}

// Grace is the grace period with the default applied.
func (h AppHealth) Grace() time.Duration {
	if h.GracePeriod == 0 {
		return h.Interval() * time.Duration(h.Probes())
	}
	return h.GracePeriod
}

// ServiceFabric describes a Service Fabric node type (R-REQ-5).
type ServiceFabric struct {
	Durability          string `json:"durability"`          // Bronze | Silver | Gold, the cluster's
	ExtensionDurability string `json:"extensionDurability"` // the extension's durabilityLevel
	TypeHandlerVersion  string `json:"typeHandlerVersion"`
	StatelessOnly       bool   `json:"statelessOnly,omitempty"`
}

// RollingPolicy is the rolling upgrade policy of the model.
type RollingPolicy struct {
	MaxBatchInstancePercent             int           `json:"maxBatchInstancePercent"`
	MaxUnhealthyInstancePercent         int           `json:"maxUnhealthyInstancePercent"`
	MaxUnhealthyUpgradedInstancePercent int           `json:"maxUnhealthyUpgradedInstancePercent"`
	PauseTimeBetweenBatches             time.Duration `json:"pauseTimeBetweenBatches"`
	PrioritizeUnhealthyInstances        bool          `json:"prioritizeUnhealthyInstances"`
}

// DefaultRollingPolicy holds Azure's defaults, the automatic upgrade's 20%.
func DefaultRollingPolicy() RollingPolicy {
	p := plan.DefaultPolicy()
	return RollingPolicy{
		MaxBatchInstancePercent:             p.MaxBatchInstancePercent,
		MaxUnhealthyInstancePercent:         p.MaxUnhealthyInstancePercent,
		MaxUnhealthyUpgradedInstancePercent: p.MaxUnhealthyUpgradedInstancePercent,
	}
}

// ScaleSet is the scale set model: everything the user declares.
type ScaleSet struct {
	Name          string         `json:"name"`
	Region        string         `json:"region"`
	Zones         []string       `json:"zones,omitempty"`
	UpdateDomains int            `json:"updateDomains"`
	Capacity      int            `json:"capacity"`
	OS            string         `json:"os"` // linux | windows
	Image         ImageReference `json:"image"`
	// Health is how instance health is known: extension (Application Health
	// extension), probe (load-balancer probe) or none.
	Health    plan.HealthMode `json:"health"`
	AppHealth AppHealth       `json:"appHealth"`
	// LoadBalancerSKU of the probe's load balancer: Standard | Basic.
	LoadBalancerSKU      string         `json:"loadBalancerSku,omitempty"`
	SinglePlacementGroup bool           `json:"singlePlacementGroup"`
	Extensions           []Extension    `json:"extensions,omitempty"`
	CustomData           string         `json:"customData,omitempty"`
	DataDisks            int            `json:"dataDisks"`
	ServiceFabric        *ServiceFabric `json:"serviceFabric,omitempty"`
	// EnableAutomaticUpdates is Windows' osProfile setting (R-REQ-4); nil = unset (Azure's default is true).
	EnableAutomaticUpdates *bool `json:"enableAutomaticUpdates,omitempty"`
	// APIVersion is the Compute API version the model was written with (R-REQ-3).
	APIVersion               string        `json:"apiVersion"`
	EnableAutomaticOSUpgrade bool          `json:"enableAutomaticOSUpgrade"`
	DisableAutomaticRollback bool          `json:"disableAutomaticRollback"`
	Rolling                  RollingPolicy `json:"rollingUpgradePolicy"`
	// BootTime is the emulator's time from reimage to a booted OS.
	BootTime time.Duration `json:"bootTime"`
}

// DefaultAPIVersion is the Compute API version the current Azure SDK sends.
const DefaultAPIVersion = "2024-11-01"

// Placement says where instance i lives: with z = len(zones) (1 when none),
// zone zones[i % z] and update domain (i / z) % updateDomains.
func (s *ScaleSet) Placement(i int) (zone string, updateDomain int) {
	z := max(1, len(s.Zones))
	if len(s.Zones) > 0 {
		zone = s.Zones[i%z]
	}
	uds := s.UpdateDomains
	if uds <= 0 {
		uds = 5
	}
	return zone, (i / z) % uds
}

// Policy is the planner's policy for this model.
func (s *ScaleSet) Policy() plan.Policy {
	return plan.Policy{
		MaxBatchInstancePercent:             s.Rolling.MaxBatchInstancePercent,
		MaxUnhealthyInstancePercent:         s.Rolling.MaxUnhealthyInstancePercent,
		MaxUnhealthyUpgradedInstancePercent: s.Rolling.MaxUnhealthyUpgradedInstancePercent,
		PauseTimeBetweenBatches:             s.Rolling.PauseTimeBetweenBatches,
		PrioritizeUnhealthyInstances:        s.Rolling.PrioritizeUnhealthyInstances,
		DisableAutomaticRollback:            s.DisableAutomaticRollback,
		HealthMode:                          s.Health,
	}
}

// compareVersions orders image versions (plan.CompareVersions).
func compareVersions(a, b string) int { return plan.CompareVersions(a, b) }

// CompareVersions is compareVersions for callers outside the package.
func CompareVersions(a, b string) int { return compareVersions(a, b) }
