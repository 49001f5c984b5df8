package orchestrator

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// ValidationError is a model that breaks a rule: Target names the property
// (ARM's JSON path), Rule the SPEC id. The API turns it into a 400.
type ValidationError struct {
	Code    string
	Target  string
	Rule    string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Rule != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Target, e.Message, e.Rule)
	}
	return fmt.Sprintf("%s: %s", e.Target, e.Message)
}

// ErrInvalidModel is what every ValidationError matches with errors.Is.
var ErrInvalidModel = errors.New("invalid scale set model")

func (e *ValidationError) Is(target error) bool { return target == ErrInvalidModel }

func invalid(rule, target, format string, args ...any) *ValidationError {
	return &ValidationError{Code: "InvalidParameter", Target: target, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// Property paths, ARM's names.
const (
	pImage        = "properties.virtualMachineProfile.storageProfile.imageReference"
	pExtensions   = "properties.virtualMachineProfile.extensionProfile.extensions"
	pAutoUpdates  = "properties.virtualMachineProfile.osProfile.windowsConfiguration.enableAutomaticUpdates"
	pHealthProbe  = "properties.virtualMachineProfile.networkProfile.healthProbe"
	pRolling      = "properties.upgradePolicy.rollingUpgradePolicy"
	pAutoOSUpdate = "properties.upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade"
)

// SupportedPlatformSKUs is the seed's table of platform images that
// automatic OS upgrades support (R-REQ-6), as publisher:offer:sku.
var SupportedPlatformSKUs = []string{
	"Canonical:UbuntuServer:16.04-LTS",
	"Canonical:UbuntuServer:18.04-LTS",
	"OpenLogic:CentOS:7.5",
	"MicrosoftWindowsServer:WindowsServer:2012-R2-Datacenter",
	"MicrosoftWindowsServer:WindowsServer:2016-Datacenter",
	"MicrosoftWindowsServer:WindowsServer:2016-Datacenter-smalldisk",
	"MicrosoftWindowsServer:WindowsServer:2016-Datacenter-with-Containers",
	"MicrosoftWindowsServer:WindowsServer:2019-Datacenter",
	"MicrosoftWindowsServer:WindowsServer:2019-Datacenter-smalldisk",
	"MicrosoftWindowsServer:WindowsServer:2019-Datacenter-with-Containers",
	"MicrosoftWindowsServer:WindowsServer:2019-Datacenter-Core",
	"MicrosoftWindowsServer:WindowsServer:2019-Datacenter-Core-with-Containers",
	"MicrosoftWindowsServer:WindowsServer:2019-Datacenter-gensecond",
}

var apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview)?$`)

// apiAtLeast compares ISO-dated API versions.
func apiAtLeast(v, min string) bool { return v[:10] >= min }

// MaxInstances is the largest scale set the emulator takes.
const MaxInstances = 1_000_000

// Validate checks a scale set model: its own shape always, and R-REQ-1..7
// and R-REQ-9 when automatic OS upgrades are enabled. The first violation is
// returned; nothing is applied by the caller on error.
func Validate(s *ScaleSet) error {
	if s.Name == "" {
		return invalid("", "name", "is required")
	}
	if !KnownRegion(s.Region) {
		return invalid("", "location", "region %q is not supported (supported: %s)", s.Region, strings.Join(Regions(), ", "))
	}
	if s.Capacity < 0 || s.Capacity > MaxInstances {
		return invalid("", "sku.capacity", "is %d, want 0 to %d", s.Capacity, MaxInstances)
	}
	for i, z := range s.Zones {
		if z == "" || slices.Contains(s.Zones[:i], z) {
			return invalid("", fmt.Sprintf("zones[%d]", i), "zone %q is empty or listed twice", z)
		}
	}
	if s.UpdateDomains < 1 || s.UpdateDomains > 20 {
		return invalid("", "properties.platformFaultDomainCount", "update domains is %d, want 1 to 20", s.UpdateDomains)
	}
	if s.OS != "linux" && s.OS != "windows" {
		return invalid("", "properties.virtualMachineProfile.storageProfile.osDisk.osType", "is %q, want linux or windows", s.OS)
	}
	if err := s.Policy().Validate(); err != nil {
		var pe *plan.PolicyError
		if errors.As(err, &pe) {
			return invalid("", pRolling+"."+pe.Field, "%s", pe.Message)
		}
		return invalid("", pRolling, "%v", err)
	}
	if err := validateAppHealth(s); err != nil {
		return err
	}
	if err := validateExtensions(s.Extensions); err != nil {
		return err
	}
	if !apiVersionRE.MatchString(s.APIVersion) {
		return invalid("", "api-version", "%q is not an API version (want YYYY-MM-DD)", s.APIVersion)
	}
	if !s.EnableAutomaticOSUpgrade {
		return nil
	}
	return validateAutomaticUpgrade(s)
}

func validateAppHealth(s *ScaleSet) error {
	h := s.AppHealth
	const t = pExtensions + "[ApplicationHealth].settings"
	switch h.Protocol {
	case "", "http", "https", "tcp":
	default:
		return invalid("", t+".protocol", "is %q, want http, https or tcp", h.Protocol)
	}
	if h.IntervalInSeconds != 0 && (h.IntervalInSeconds < 5 || h.IntervalInSeconds > 60) {
		return invalid("", t+".intervalInSeconds", "is %d, want 5 to 60", h.IntervalInSeconds)
	}
	if h.NumberOfProbes != 0 && (h.NumberOfProbes < 1 || h.NumberOfProbes > 24) {
		return invalid("", t+".numberOfProbes", "is %d, want 1 to 24", h.NumberOfProbes)
	}
	if h.Port < 0 || h.Port > 65535 {
		return invalid("", t+".port", "is %d, want 1 to 65535", h.Port)
	}
	if h.GracePeriod < 0 {
		return invalid("", t+".gracePeriod", "is negative")
	}
	return nil
}

// validateExtensions is R-REQ-9: names unique, provisionAfterExtensions
// naming extensions that exist, and no cycle.
func validateExtensions(exts []Extension) error {
	index := map[string]int{}
	for i, e := range exts {
		if e.Name == "" {
			return invalid("R-REQ-9", fmt.Sprintf("%s[%d].name", pExtensions, i), "is required")
		}
		if _, dup := index[e.Name]; dup {
			return invalid("R-REQ-9", fmt.Sprintf("%s[%d].name", pExtensions, i), "extension %q is declared twice", e.Name)
		}
		index[e.Name] = i
	}
	for i, e := range exts {
		for _, dep := range e.ProvisionAfterExtensions {
			if _, ok := index[dep]; !ok {
				return invalid("R-REQ-9", fmt.Sprintf("%s[%d].provisionAfterExtensions", pExtensions, i), "extension %q runs after %q, which does not exist", e.Name, dep)
			}
		}
	}
	if _, err := ExtensionOrder(exts); err != nil {
		return err
	}
	return nil
}

// ExtensionOrder is the order extensions run in: provisionAfterExtensions
// first, declaration order otherwise (R-REQ-9). A cycle is an error.
func ExtensionOrder(exts []Extension) ([]Extension, error) {
	index := map[string]int{}
	for i, e := range exts {
		index[e.Name] = i
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(exts))
	var out []Extension
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return invalid("R-REQ-9", fmt.Sprintf("%s[%d].provisionAfterExtensions", pExtensions, i), "extension sequencing has a cycle: %s", strings.Join(append(path, exts[i].Name), " -> "))
		}
		state[i] = visiting
		for _, dep := range exts[i].ProvisionAfterExtensions {
			j, ok := index[dep]
			if !ok {
				return invalid("R-REQ-9", fmt.Sprintf("%s[%d].provisionAfterExtensions", pExtensions, i), "extension %q runs after %q, which does not exist", exts[i].Name, dep)
			}
			if err := visit(j, append(path, exts[i].Name)); err != nil {
				return err
			}
		}
		state[i] = done
		out = append(out, exts[i])
		return nil
	}
	for i := range exts {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func validateAutomaticUpgrade(s *ScaleSet) error {
	img := s.Image
	// R-REQ-1: the version must float.
	if img.IsGallery() {
		if img.Version != "" {
			return invalid("R-REQ-1", pImage+".id", "gallery image %s pins version %q; automatic OS upgrade needs the image without a version", img.Ref(), img.Version)
		}
	} else if img.Version != "latest" {
		return invalid("R-REQ-1", pImage+".version", "is %q; automatic OS upgrade needs \"latest\"", img.Version)
	}
	// R-REQ-6: supported platform SKUs, custom images only via a gallery.
	if !img.IsGallery() && !slices.Contains(SupportedPlatformSKUs, img.Ref()) {
		return invalid("R-REQ-6", pImage, "platform image %s is not supported for automatic OS upgrade (supported: %s; custom images only through a compute gallery)", img.Ref(), strings.Join(SupportedPlatformSKUs, ", "))
	}
	// R-REQ-3
	if !apiAtLeast(s.APIVersion, "2018-10-01") {
		return invalid("R-REQ-3", "api-version", "is %s; automatic OS upgrade needs 2018-10-01 or later", s.APIVersion)
	}
	// R-REQ-4, and for Service Fabric whatever the version.
	if s.OS == "windows" && (apiAtLeast(s.APIVersion, "2019-03-01") || s.ServiceFabric != nil) {
		if s.EnableAutomaticUpdates == nil || *s.EnableAutomaticUpdates {
			return invalid("R-REQ-4", pAutoUpdates, "must be false on Windows with automatic OS upgrade (API 2019-03-01 or later, or Service Fabric)")
		}
	}
	if sf := s.ServiceFabric; sf != nil {
		if err := validateServiceFabric(s, sf); err != nil {
			return err
		}
	} else if s.Health == plan.HealthNone {
		// R-REQ-2
		return invalid("R-REQ-2", pHealthProbe, "a scale set that is not Service Fabric needs a load-balancer health probe or the Application Health extension for automatic OS upgrade")
	}
	// R-REQ-7
	if !s.SinglePlacementGroup && s.Health == plan.HealthProbe && s.LoadBalancerSKU != "Standard" {
		return invalid("R-REQ-7", pHealthProbe, "with multiple placement groups the health probe must be on a Standard load balancer, not %q", s.LoadBalancerSKU)
	}
	return nil
}

// validateServiceFabric is R-REQ-5 (and R-REQ-2 for Bronze stateless).
func validateServiceFabric(s *ScaleSet, sf *ServiceFabric) error {
	const t = "properties.virtualMachineProfile.extensionProfile.extensions[ServiceFabricNode]"
	switch sf.Durability {
	case "Silver", "Gold":
	case "Bronze":
		if !sf.StatelessOnly {
			return invalid("R-REQ-5", t+".settings.durabilityLevel", "Bronze durability supports automatic OS upgrade only for stateless-only node types; use Silver or Gold")
		}
		if s.Health == plan.HealthNone {
			return invalid("R-REQ-2", pHealthProbe, "Service Fabric Bronze with stateless-only node types needs a health probe for automatic OS upgrade")
		}
	default:
		return invalid("R-REQ-5", t+".settings.durabilityLevel", "is %q, want Bronze, Silver or Gold", sf.Durability)
	}
	if sf.ExtensionDurability != sf.Durability {
		return invalid("R-REQ-5", t+".settings.durabilityLevel", "extension durability %q differs from the cluster's %q", sf.ExtensionDurability, sf.Durability)
	}
	if !versionAtLeast(sf.TypeHandlerVersion, 1, 1) {
		return invalid("R-REQ-5", t+".typeHandlerVersion", "is %q; automatic OS upgrade needs 1.1 or later", sf.TypeHandlerVersion)
	}
	if s.Health == plan.HealthExtension {
		return invalid("R-REQ-5", pExtensions+"[ApplicationHealth]", "application health extension is not supported on Service Fabric scale sets")
	}
	return nil
}

func versionAtLeast(v string, major, minor int) bool {
	a, b, _ := strings.Cut(v, ".")
	x, err := strconv.Atoi(a)
	if err != nil {
		return false
	}
	y := 0
	if b != "" {
		if y, err = strconv.Atoi(strings.SplitN(b, ".", 2)[0]); err != nil {
			return false
		}
	}
	return x > major || (x == major && y >= minor)
}

// ValidateUpdate checks a change of an existing model (R-REQ-8): the image's
// publisher and offer, and platform versus gallery, never change; the SKU may
// change only through the model, never through an automatic upgrade.
func ValidateUpdate(old, new *ScaleSet) error {
	if old.Image.IsGallery() != new.Image.IsGallery() {
		return invalid("R-REQ-8", pImage, "cannot switch an existing scale set between a platform image and a gallery image")
	}
	if !old.Image.IsGallery() {
		if old.Image.Publisher != new.Image.Publisher {
			return invalid("R-REQ-8", pImage+".publisher", "cannot change from %q to %q on an existing scale set", old.Image.Publisher, new.Image.Publisher)
		}
		if old.Image.Offer != new.Image.Offer {
			return invalid("R-REQ-8", pImage+".offer", "cannot change from %q to %q on an existing scale set", old.Image.Offer, new.Image.Offer)
		}
	}
	if old.Region != new.Region {
		return invalid("", "location", "cannot change from %q to %q", old.Region, new.Region)
	}
	return Validate(new)
}
