package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// The ARM JSON model of a scale set: the subset of Azure's
// VirtualMachineScaleSet that automatic OS upgrades touch. Pointers tell
// "absent" from "zero", and decoding a PATCH body onto a rendered resource
// merges objects and replaces arrays, as ARM does.

type armVMSS struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	SKU        *armSKU           `json:"sku,omitempty"`
	Zones      []string          `json:"zones,omitempty"`
	Properties *armVMSSProps     `json:"properties,omitempty"`
}

type armSKU struct {
	Name     *string `json:"name,omitempty"`
	Tier     *string `json:"tier,omitempty"`
	Capacity *int64  `json:"capacity,omitempty"`
}

type armVMSSProps struct {
	ProvisioningState        string            `json:"provisioningState,omitempty"`
	UniqueID                 string            `json:"uniqueId,omitempty"`
	TimeCreated              *time.Time        `json:"timeCreated,omitempty"`
	PlatformFaultDomainCount *int              `json:"platformFaultDomainCount,omitempty"`
	SinglePlacementGroup     *bool             `json:"singlePlacementGroup,omitempty"`
	Overprovision            *bool             `json:"overprovision,omitempty"`
	UpgradePolicy            *armUpgradePolicy `json:"upgradePolicy,omitempty"`
	VirtualMachineProfile    *armVMProfile     `json:"virtualMachineProfile,omitempty"`
}

type armUpgradePolicy struct {
	Mode                     *string        `json:"mode,omitempty"`
	AutomaticOSUpgradePolicy *armAutoOS     `json:"automaticOSUpgradePolicy,omitempty"`
	RollingUpgradePolicy     *armRollingPol `json:"rollingUpgradePolicy,omitempty"`
}

type armAutoOS struct {
	EnableAutomaticOSUpgrade *bool `json:"enableAutomaticOSUpgrade,omitempty"`
	DisableAutomaticRollback *bool `json:"disableAutomaticRollback,omitempty"`
	UseRollingUpgradePolicy  *bool `json:"useRollingUpgradePolicy,omitempty"`
	OSRollingUpgradeDeferral *bool `json:"osRollingUpgradeDeferral,omitempty"`
}

type armRollingPol struct {
	MaxBatchInstancePercent             *int    `json:"maxBatchInstancePercent,omitempty"`
	MaxUnhealthyInstancePercent         *int    `json:"maxUnhealthyInstancePercent,omitempty"`
	MaxUnhealthyUpgradedInstancePercent *int    `json:"maxUnhealthyUpgradedInstancePercent,omitempty"`
	PauseTimeBetweenBatches             *string `json:"pauseTimeBetweenBatches,omitempty"`
	PrioritizeUnhealthyInstances        *bool   `json:"prioritizeUnhealthyInstances,omitempty"`
	EnableCrossZoneUpgrade              *bool   `json:"enableCrossZoneUpgrade,omitempty"`
	MaxSurge                            *bool   `json:"maxSurge,omitempty"`
}

type armVMProfile struct {
	OSProfile        *armOSProfile        `json:"osProfile,omitempty"`
	StorageProfile   *armStorageProfile   `json:"storageProfile,omitempty"`
	NetworkProfile   *armNetworkProfile   `json:"networkProfile,omitempty"`
	ExtensionProfile *armExtensionProfile `json:"extensionProfile,omitempty"`
}

type armOSProfile struct {
	ComputerNamePrefix   *string          `json:"computerNamePrefix,omitempty"`
	AdminUsername        *string          `json:"adminUsername,omitempty"`
	AdminPassword        *string          `json:"adminPassword,omitempty"`
	CustomData           *string          `json:"customData,omitempty"`
	WindowsConfiguration *armWindowsConf  `json:"windowsConfiguration,omitempty"`
	LinuxConfiguration   *json.RawMessage `json:"linuxConfiguration,omitempty"`
}

type armWindowsConf struct {
	EnableAutomaticUpdates *bool `json:"enableAutomaticUpdates,omitempty"`
	ProvisionVMAgent       *bool `json:"provisionVMAgent,omitempty"`
}

type armStorageProfile struct {
	ImageReference *armImageRef      `json:"imageReference,omitempty"`
	OSDisk         *armOSDisk        `json:"osDisk,omitempty"`
	DataDisks      []json.RawMessage `json:"dataDisks,omitempty"`
}

type armImageRef struct {
	Publisher    *string `json:"publisher,omitempty"`
	Offer        *string `json:"offer,omitempty"`
	SKU          *string `json:"sku,omitempty"`
	Version      *string `json:"version,omitempty"`
	ID           *string `json:"id,omitempty"`
	ExactVersion *string `json:"exactVersion,omitempty"`
}

type armOSDisk struct {
	OSType       *string `json:"osType,omitempty"`
	CreateOption *string `json:"createOption,omitempty"`
	Caching      *string `json:"caching,omitempty"`
}

type armNetworkProfile struct {
	HealthProbe                    *armSubResource  `json:"healthProbe,omitempty"`
	NetworkInterfaceConfigurations *json.RawMessage `json:"networkInterfaceConfigurations,omitempty"`
	NetworkAPIVersion              *string          `json:"networkApiVersion,omitempty"`
}

type armSubResource struct {
	ID *string `json:"id,omitempty"`
}

type armExtensionProfile struct {
	Extensions []armExtension `json:"extensions"`
}

type armExtension struct {
	Name       *string           `json:"name,omitempty"`
	Properties *armExtensionProp `json:"properties,omitempty"`
}

type armExtensionProp struct {
	Publisher                *string        `json:"publisher,omitempty"`
	Type                     *string        `json:"type,omitempty"`
	TypeHandlerVersion       *string        `json:"typeHandlerVersion,omitempty"`
	AutoUpgradeMinorVersion  *bool          `json:"autoUpgradeMinorVersion,omitempty"`
	Settings                 map[string]any `json:"settings,omitempty"`
	ProtectedSettings        map[string]any `json:"protectedSettings,omitempty"`
	ProvisionAfterExtensions []string       `json:"provisionAfterExtensions,omitempty"`
	ProvisioningState        string         `json:"provisioningState,omitempty"`
}

// Emulator knobs carried in the scale set's tags (ARM has no field for them).
const (
	tagBootTime          = "osupgrade.bootTime"          // Go duration: reimage to booted OS
	tagLoadBalancerSKU   = "osupgrade.loadBalancerSku"   // Standard (default) | Basic, the probe's load balancer
	tagClusterDurability = "osupgrade.clusterDurability" // Service Fabric cluster durability (default: the extension's)
	tagStatelessOnly     = "osupgrade.statelessOnly"     // "true": Service Fabric stateless-only node types
)

// apiError is an ARM error response.
type apiError struct {
	Status  int
	Code    string
	Message string
	Target  string
}

func (e *apiError) Error() string {
	if e.Target != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Target, e.Message)
	}
	return e.Code + ": " + e.Message
}

func badRequest(code, target, format string, args ...any) *apiError {
	return &apiError{Status: 400, Code: code, Target: target, Message: fmt.Sprintf(format, args...)}
}

const maxBody = 4 << 20

// decodeBody reads a JSON object into v (which may hold a rendered
// resource to merge onto), naming the property that has the wrong type.
func decodeBody(r io.Reader, v any) *apiError {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return badRequest("InvalidRequestContent", "", "reading the request body: %v", err)
	}
	if len(b) > maxBody {
		return &apiError{Status: 413, Code: "RequestBodyTooLarge", Message: fmt.Sprintf("the request body is larger than %d bytes", maxBody)}
	}
	return decodeJSON(b, v)
}

func decodeJSON(b []byte, v any) *apiError {
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("InvalidRequestContent", "", "the request body is empty; a JSON object is required")
	}
	if t := bytes.TrimSpace(b); t[0] != '{' {
		return badRequest("InvalidRequestContent", "", "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badRequest("InvalidRequestFormat", "", "the request body is not valid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "(root)"
			}
			return badRequest("InvalidRequestFormat", field, "property %s must be %s, not a JSON %s", field, jsonKind(te.Type.String()), te.Value)
		default:
			return badRequest("InvalidRequestFormat", "", "the request body could not be read: %v", err)
		}
	}
	if dec.More() {
		return badRequest("InvalidRequestFormat", "", "the request body has data after its JSON object")
	}
	return nil
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.Contains(goType, "bool"):
		return "a boolean"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.HasPrefix(goType, "[]") || strings.HasPrefix(goType, "*[]"):
		return "an array"
	case strings.Contains(goType, "map") || strings.Contains(goType, "api."):
		return "an object"
	case strings.Contains(goType, "Time"):
		return "an RFC 3339 time string"
	}
	return "of type " + goType
}

// Property paths used in errors.
const (
	pProps   = "properties"
	pProfile = "properties.virtualMachineProfile"
	pImage   = "properties.virtualMachineProfile.storageProfile.imageReference"
	pExts    = "properties.virtualMachineProfile.extensionProfile.extensions"
	pRolling = "properties.upgradePolicy.rollingUpgradePolicy"
	pAutoOS  = "properties.upgradePolicy.automaticOSUpgradePolicy"
)

var galleryIDRE = regexp.MustCompile(`(?i)^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/galleries/([^/]+)/images/([^/]+)(?:/versions/([^/]+))?$`)

// normalizeRegion turns "East US" into "eastus".
func normalizeRegion(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", ""))
}

// toModel converts an ARM document into the orchestrator's model. old is the
// current model of an update (nil on create): write-only fields the document
// does not repeat (customData, protected settings) are kept from it.
func toModel(doc *armVMSS, name, apiVersion string, old *orchestrator.ScaleSet) (orchestrator.ScaleSet, *apiError) {
	m := orchestrator.ScaleSet{Name: name, APIVersion: apiVersion, UpdateDomains: 5, SinglePlacementGroup: true, Rolling: plan.DefaultRollingUpgradePolicy(), LoadBalancerSKU: "Standard"}
	if doc.Location == "" {
		return m, badRequest("LocationRequired", "location", "the location property is required")
	}
	m.Region = normalizeRegion(doc.Location)
	if doc.SKU == nil || doc.SKU.Capacity == nil {
		return m, badRequest("InvalidParameter", "sku.capacity", "sku.capacity is required")
	}
	if c := *doc.SKU.Capacity; c < 0 || c > orchestrator.MaxInstances {
		return m, badRequest("InvalidParameter", "sku.capacity", "is %d, want 0 to %d", c, orchestrator.MaxInstances)
	}
	m.Capacity = int(*doc.SKU.Capacity)
	m.Zones = append([]string(nil), doc.Zones...)
	if err := tagsToModel(doc.Tags, &m); err != nil {
		return m, err
	}
	p := doc.Properties
	if p == nil {
		return m, badRequest("InvalidParameter", pProps, "properties is required")
	}
	if p.PlatformFaultDomainCount != nil {
		m.UpdateDomains = *p.PlatformFaultDomainCount
	}
	if p.SinglePlacementGroup != nil {
		m.SinglePlacementGroup = *p.SinglePlacementGroup
	}
	if err := upgradePolicyToModel(p.UpgradePolicy, &m); err != nil {
		return m, err
	}
	vp := p.VirtualMachineProfile
	if vp == nil || vp.StorageProfile == nil || vp.StorageProfile.ImageReference == nil {
		return m, badRequest("InvalidParameter", pImage, "the image reference is required")
	}
	if err := imageToModel(vp.StorageProfile.ImageReference, &m); err != nil {
		return m, err
	}
	m.DataDisks = len(vp.StorageProfile.DataDisks)
	m.OS = "linux"
	if strings.HasPrefix(m.Image.Publisher, "MicrosoftWindows") || (vp.OSProfile != nil && vp.OSProfile.WindowsConfiguration != nil) {
		m.OS = "windows"
	}
	if d := vp.StorageProfile.OSDisk; d != nil && d.OSType != nil {
		switch strings.ToLower(*d.OSType) {
		case "linux", "windows":
			m.OS = strings.ToLower(*d.OSType)
		default:
			return m, badRequest("InvalidParameter", pProfile+".storageProfile.osDisk.osType", "is %q, want Linux or Windows", *d.OSType)
		}
	}
	if op := vp.OSProfile; op != nil {
		if op.CustomData != nil {
			m.CustomData = *op.CustomData
		} else if old != nil {
			m.CustomData = old.CustomData
		}
		if w := op.WindowsConfiguration; w != nil && w.EnableAutomaticUpdates != nil {
			v := *w.EnableAutomaticUpdates
			m.EnableAutomaticUpdates = &v
		}
	} else if old != nil {
		m.CustomData = old.CustomData
	}
	m.Health = plan.HealthNone
	if np := vp.NetworkProfile; np != nil && np.HealthProbe != nil && np.HealthProbe.ID != nil && *np.HealthProbe.ID != "" {
		m.Health = plan.HealthProbe
	}
	if vp.ExtensionProfile != nil {
		if err := extensionsToModel(vp.ExtensionProfile.Extensions, &m, old); err != nil {
			return m, err
		}
		applyServiceFabricTags(doc.Tags, &m)
	}
	return m, nil
}

func tagsToModel(tags map[string]string, m *orchestrator.ScaleSet) *apiError {
	if v, ok := tags[tagBootTime]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return badRequest("InvalidParameter", "tags."+tagBootTime, "is %q, want a non-negative Go duration such as 30s", v)
		}
		m.BootTime = d
	}
	if v, ok := tags[tagLoadBalancerSKU]; ok {
		if v != "Standard" && v != "Basic" {
			return badRequest("InvalidParameter", "tags."+tagLoadBalancerSKU, "is %q, want Standard or Basic", v)
		}
		m.LoadBalancerSKU = v
	}
	return nil
}

// upgradePolicyToModel maps upgradePolicy onto the model: the one mapping
// from ARM's policy to the planner's (plan.RollingUpgradePolicy, whose
// Validate, called by orchestrator.Validate, checks the ranges). A policy
// setting osupgrade does not carry out is refused with a 400 naming it,
// never accepted and dropped.
func upgradePolicyToModel(up *armUpgradePolicy, m *orchestrator.ScaleSet) *apiError {
	if up == nil {
		return nil
	}
	if up.Mode != nil {
		switch strings.ToLower(*up.Mode) {
		case "automatic", "manual", "rolling":
		default:
			return badRequest("InvalidParameter", "properties.upgradePolicy.mode", "is %q, want Automatic, Manual or Rolling", *up.Mode)
		}
	}
	if a := up.AutomaticOSUpgradePolicy; a != nil {
		if a.OSRollingUpgradeDeferral != nil && *a.OSRollingUpgradeDeferral {
			return unsupportedPolicy(pAutoOS+".osRollingUpgradeDeferral", "deferring OS upgrades is not supported: osupgrade rolls a new image out as soon as it is due")
		}
		m.EnableAutomaticOSUpgrade = a.EnableAutomaticOSUpgrade != nil && *a.EnableAutomaticOSUpgrade
		m.DisableAutomaticRollback = a.DisableAutomaticRollback != nil && *a.DisableAutomaticRollback
	}
	r := up.RollingUpgradePolicy
	if r == nil {
		return nil
	}
	if r.MaxSurge != nil && *r.MaxSurge {
		return unsupportedPolicy(pRolling+".maxSurge", "surge upgrades are not supported: osupgrade reimages the existing instances in place, it never creates new ones")
	}
	if r.EnableCrossZoneUpgrade != nil && *r.EnableCrossZoneUpgrade {
		return unsupportedPolicy(pRolling+".enableCrossZoneUpgrade", "cross-zone batches are not supported: osupgrade upgrades one availability zone at a time (R-AVAIL-1)")
	}
	if r.MaxBatchInstancePercent != nil {
		m.Rolling.MaxBatchInstancePercent = *r.MaxBatchInstancePercent
	}
	if r.MaxUnhealthyInstancePercent != nil {
		m.Rolling.MaxUnhealthyInstancePercent = *r.MaxUnhealthyInstancePercent
	}
	if r.MaxUnhealthyUpgradedInstancePercent != nil {
		m.Rolling.MaxUnhealthyUpgradedInstancePercent = *r.MaxUnhealthyUpgradedInstancePercent
	}
	if r.PrioritizeUnhealthyInstances != nil {
		m.Rolling.PrioritizeUnhealthyInstances = *r.PrioritizeUnhealthyInstances
	}
	if r.PauseTimeBetweenBatches != nil {
		// Parsing stops at plan's bound so that nothing overflows; the
		// range itself is plan.RollingUpgradePolicy.Validate's.
		d, err := parseISODuration(*r.PauseTimeBetweenBatches, plan.MaxPauseTimeBetweenBatches)
		if err != nil {
			return badRequest("InvalidParameter", pRolling+".pauseTimeBetweenBatches", "%s: %v", pRolling+".pauseTimeBetweenBatches", err)
		}
		m.Rolling.PauseTimeBetweenBatches = d
	}
	return nil
}

// unsupportedPolicy is ARM's 400 for a policy setting osupgrade does not
// carry out; false (the setting's default) is accepted.
func unsupportedPolicy(target, why string) *apiError {
	return badRequest("InvalidParameter", target, "%s: %s; omit it or set it to false", target, why)
}

// rollingToARM renders the model's rolling upgrade policy as ARM's: the one
// mapping back, for the scale set and its rollingUpgrades/latest.
func rollingToARM(p plan.RollingUpgradePolicy) *armRollingPol {
	return &armRollingPol{
		MaxBatchInstancePercent:             ptr(p.MaxBatchInstancePercent),
		MaxUnhealthyInstancePercent:         ptr(p.MaxUnhealthyInstancePercent),
		MaxUnhealthyUpgradedInstancePercent: ptr(p.MaxUnhealthyUpgradedInstancePercent),
		PauseTimeBetweenBatches:             ptr(formatISODuration(p.PauseTimeBetweenBatches)),
		PrioritizeUnhealthyInstances:        ptr(p.PrioritizeUnhealthyInstances),
	}
}

func imageToModel(ir *armImageRef, m *orchestrator.ScaleSet) *apiError {
	if ir.ID != nil && *ir.ID != "" {
		g := galleryIDRE.FindStringSubmatch(*ir.ID)
		if g == nil {
			return badRequest("InvalidParameter", pImage+".id", "%q is not a compute gallery image id (/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/galleries/NAME/images/IMAGE[/versions/V]); custom images are supported only through a compute gallery (R-REQ-6)", *ir.ID)
		}
		m.Image = orchestrator.ImageReference{Gallery: g[3], GalleryImage: g[4], Version: g[5]}
		return nil
	}
	get := func(p *string, field string) (string, *apiError) {
		if p == nil || *p == "" {
			return "", badRequest("InvalidParameter", pImage+"."+field, "%s is required for a platform image", field)
		}
		return *p, nil
	}
	var err *apiError
	if m.Image.Publisher, err = get(ir.Publisher, "publisher"); err != nil {
		return err
	}
	if m.Image.Offer, err = get(ir.Offer, "offer"); err != nil {
		return err
	}
	if m.Image.SKU, err = get(ir.SKU, "sku"); err != nil {
		return err
	}
	m.Image.Version = "latest"
	if ir.Version != nil && *ir.Version != "" {
		m.Image.Version = *ir.Version
	}
	return nil
}

func isAppHealth(typ string) bool {
	return strings.EqualFold(typ, "ApplicationHealthLinux") || strings.EqualFold(typ, "ApplicationHealthWindows")
}

func isServiceFabric(typ string) bool {
	return strings.EqualFold(typ, "ServiceFabricNode") || strings.EqualFold(typ, "ServiceFabricLinuxNode")
}

func extensionsToModel(exts []armExtension, m *orchestrator.ScaleSet, old *orchestrator.ScaleSet) *apiError {
	for i, e := range exts {
		at := fmt.Sprintf("%s[%d]", pExts, i)
		if e.Name == nil || *e.Name == "" {
			return badRequest("InvalidParameter", at+".name", "the extension name is required")
		}
		p := e.Properties
		if p == nil || p.Type == nil || *p.Type == "" {
			return badRequest("InvalidParameter", at+".properties.type", "the extension type is required")
		}
		x := orchestrator.Extension{Name: *e.Name, Type: *p.Type, Settings: p.Settings, ProvisionAfterExtensions: append([]string(nil), p.ProvisionAfterExtensions...)}
		if p.Publisher != nil {
			x.Publisher = *p.Publisher
		}
		if p.TypeHandlerVersion != nil {
			x.TypeHandlerVersion = *p.TypeHandlerVersion
		}
		exp, found, err := sasExpiry(p.Settings, p.ProtectedSettings)
		if err != nil {
			return badRequest("InvalidParameter", at+".properties", "%v", err)
		}
		switch {
		case found:
			x.SASExpiresAt = exp
		case p.ProtectedSettings == nil && old != nil:
			// Protected settings are write-only: an update that does not
			// repeat them keeps the token it had (R-CRED-1).
			for _, oe := range old.Extensions {
				if oe.Name == x.Name {
					x.SASExpiresAt = oe.SASExpiresAt
				}
			}
		}
		m.Extensions = append(m.Extensions, x)
		switch {
		case isAppHealth(x.Type):
			h, err := appHealthSettings(p.Settings, at+".properties.settings")
			if err != nil {
				return err
			}
			m.Health, m.AppHealth = plan.HealthExtension, h
		case isServiceFabric(x.Type):
			d, _ := p.Settings["durabilityLevel"].(string)
			sf := &orchestrator.ServiceFabric{Durability: d, ExtensionDurability: d, TypeHandlerVersion: x.TypeHandlerVersion}
			m.ServiceFabric = sf
		}
	}
	return nil
}

// applyServiceFabricTags completes the Service Fabric model from tags.
func applyServiceFabricTags(tags map[string]string, m *orchestrator.ScaleSet) {
	if m.ServiceFabric == nil {
		return
	}
	if v, ok := tags[tagClusterDurability]; ok {
		m.ServiceFabric.Durability = v
	}
	m.ServiceFabric.StatelessOnly = tags[tagStatelessOnly] == "true"
}

func appHealthSettings(s map[string]any, at string) (orchestrator.AppHealth, *apiError) {
	var h orchestrator.AppHealth
	str := func(k string) (string, *apiError) {
		v, ok := s[k]
		if !ok {
			return "", nil
		}
		x, ok := v.(string)
		if !ok {
			return "", badRequest("InvalidParameter", at+"."+k, "must be a string")
		}
		return x, nil
	}
	num := func(k string) (int, *apiError) {
		v, ok := s[k]
		if !ok {
			return 0, nil
		}
		f, ok := v.(float64)
		if !ok || f != float64(int(f)) || f < 0 || f > 1e6 {
			return 0, badRequest("InvalidParameter", at+"."+k, "must be a non-negative integer")
		}
		return int(f), nil
	}
	var err *apiError
	if h.Protocol, err = str("protocol"); err != nil {
		return h, err
	}
	h.Protocol = strings.ToLower(h.Protocol)
	if h.RequestPath, err = str("requestPath"); err != nil {
		return h, err
	}
	if h.Port, err = num("port"); err != nil {
		return h, err
	}
	if h.IntervalInSeconds, err = num("intervalInSeconds"); err != nil {
		return h, err
	}
	if h.NumberOfProbes, err = num("numberOfProbes"); err != nil {
		return h, err
	}
	g, err := num("gracePeriod")
	if err != nil {
		return h, err
	}
	h.GracePeriod = time.Duration(g) * time.Second
	return h, nil
}

// sasExpiry finds the earliest `se` of a SAS URL (one with `sig=`) in the
// extension's settings.
func sasExpiry(settings ...map[string]any) (time.Time, bool, error) {
	var at time.Time
	found := false
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case string:
			u, err := url.Parse(x)
			if err != nil || u.RawQuery == "" {
				return nil
			}
			q := u.Query()
			if q.Get("sig") == "" || q.Get("se") == "" {
				return nil
			}
			t, err := time.Parse(time.RFC3339, q.Get("se"))
			if err != nil {
				if t, err = time.Parse("2006-01-02", q.Get("se")); err != nil {
					return fmt.Errorf("SAS URL has an unreadable expiry se=%q", q.Get("se"))
				}
			}
			if !found || t.Before(at) {
				at, found = t.UTC(), true
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case map[string]any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, s := range settings {
		if err := walk(map[string]any(s)); err != nil {
			return time.Time{}, false, err
		}
	}
	return at, found, nil
}

var isoDurationRE = regexp.MustCompile(`^P(?:(\d{1,6})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?$`)

// parseISODuration reads the ISO 8601 durations ARM uses ("PT0S",
// "PT1M30S"), refusing one longer than max: each part is compared with
// what is left of max before it is added, so nothing overflows.
func parseISODuration(s string, max time.Duration) (time.Duration, error) {
	g := isoDurationRE.FindStringSubmatch(s)
	if g == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration such as PT0S or PT1M30S", s)
	}
	tooLong := fmt.Errorf("%q is longer than the maximum %s (%s)", s, formatISODuration(max), max)
	var d time.Duration
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute}
	for i, u := range units {
		if g[i+1] != "" {
			n, _ := strconv.ParseInt(g[i+1], 10, 64) // at most 6 digits
			if time.Duration(n) > (max-d)/u {
				return 0, tooLong
			}
			d += time.Duration(n) * u
		}
	}
	if g[4] != "" {
		f, _ := strconv.ParseFloat(g[4], 64)
		if f > (max - d).Seconds() {
			return 0, tooLong
		}
		d += time.Duration(f * float64(time.Second))
	}
	if d > max {
		return 0, tooLong
	}
	return d, nil
}

// formatISODuration writes d as PT#H#M#S.
func formatISODuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("PT")
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}

// sanitize drops the write-only fields before a document is stored or
// returned: protectedSettings, adminPassword and customData are accepted,
// never returned.
func sanitize(doc *armVMSS) {
	p := doc.Properties
	if p == nil || p.VirtualMachineProfile == nil {
		return
	}
	vp := p.VirtualMachineProfile
	if vp.OSProfile != nil {
		vp.OSProfile.AdminPassword = nil
		vp.OSProfile.CustomData = nil
	}
	if vp.ExtensionProfile != nil {
		for i := range vp.ExtensionProfile.Extensions {
			if pp := vp.ExtensionProfile.Extensions[i].Properties; pp != nil {
				pp.ProtectedSettings = nil
			}
		}
	}
}

// withDefaults fills what ARM returns even when the request left it out.
func withDefaults(doc *armVMSS, m *orchestrator.ScaleSet) {
	p := doc.Properties
	if p.PlatformFaultDomainCount == nil {
		p.PlatformFaultDomainCount = ptr(m.UpdateDomains)
	}
	if p.SinglePlacementGroup == nil {
		p.SinglePlacementGroup = ptr(m.SinglePlacementGroup)
	}
	if p.UpgradePolicy == nil {
		p.UpgradePolicy = &armUpgradePolicy{}
	}
	up := p.UpgradePolicy
	if up.Mode == nil {
		up.Mode = ptr("Manual")
	}
	if up.AutomaticOSUpgradePolicy == nil {
		up.AutomaticOSUpgradePolicy = &armAutoOS{}
	}
	up.AutomaticOSUpgradePolicy.EnableAutomaticOSUpgrade = ptr(m.EnableAutomaticOSUpgrade)
	up.AutomaticOSUpgradePolicy.DisableAutomaticRollback = ptr(m.DisableAutomaticRollback)
	r := rollingToARM(m.Rolling)
	if sent := up.RollingUpgradePolicy; sent != nil {
		// The settings osupgrade refuses unless false, echoed as sent.
		r.EnableCrossZoneUpgrade, r.MaxSurge = sent.EnableCrossZoneUpgrade, sent.MaxSurge
	}
	up.RollingUpgradePolicy = r
	sp := p.VirtualMachineProfile.StorageProfile
	if sp.OSDisk == nil {
		sp.OSDisk = &armOSDisk{}
	}
	if sp.OSDisk.OSType == nil {
		if m.OS == "windows" {
			sp.OSDisk.OSType = ptr("Windows")
		} else {
			sp.OSDisk.OSType = ptr("Linux")
		}
	}
	if !m.Image.IsGallery() && sp.ImageReference.Version == nil {
		sp.ImageReference.Version = ptr("latest")
	}
	if ep := p.VirtualMachineProfile.ExtensionProfile; ep != nil {
		for i := range ep.Extensions {
			if ep.Extensions[i].Properties != nil {
				ep.Extensions[i].Properties.ProvisioningState = "Succeeded"
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// cloneDoc deep-copies a document through JSON.
func cloneDoc(d *armVMSS) *armVMSS {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("api: a stored document does not encode: %v", err))
	}
	var out armVMSS
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("api: a stored document does not decode: %v", err))
	}
	return &out
}
