package steps

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/osupgrade/osupgrade/harness/scenario"
)

// Steps about the scale set model: size, layout, image, policy, extensions.
func (s *state) fleetSteps(sc stepper) {
	sc.Step(`^a scale set(?: "([^"]+)")? of (\d+) instances?$`, s.aScaleSet)
	sc.Step(`^it spans zones (.+)$`, s.itSpansZones)
	sc.Step(`^it has (\d+) update domains?$`, s.itHasUpdateDomains)
	sc.Step(`^automatic OS upgrades are (on|off)$`, s.automaticUpgrades)
	sc.Step(`^automatic rollback is (on|off)$`, s.automaticRollback)
	sc.Step(`^unhealthy instances (go first|wait their turn)$`, s.prioritizeUnhealthy)
	sc.Step(`^upgraded instances report healthy (\S+) after their reimage$`, s.healthyAfter)
	sc.Step(`^it has an extension "([^"]+)"(?: that runs after (.+))?$`, s.itHasAnExtension)
	sc.Step(`^the SAS token of extension "([^"]+)" expires at (\S+)$`, s.sasExpiresAt)
	sc.Step(`^its (.+?) is "([^"]*)"$`, s.itsSettingIs)
}

// aScaleSet declares a scale set with the defaults of features/README.md.
func (s *state) aScaleSet(name string, n int) error {
	if name == "" {
		name = "web"
	}
	if slices.ContainsFunc(s.file.ScaleSets, func(x scenario.ScaleSet) bool { return x.Name == name }) {
		return fmt.Errorf("scale set %q is declared twice", name)
	}
	s.file.ScaleSets = append(s.file.ScaleSets, scenario.ScaleSet{
		Name: name, Instances: n, Image: defaultImage, RunningVersion: defaultRunning, Health: "extension",
	})
	s.cur = len(s.file.ScaleSets) - 1
	return nil
}

func (s *state) itSpansZones(list string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	set.Zones = names(list)
	return nil
}

func (s *state) itHasUpdateDomains(n int) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	set.UpdateDomains = &n
	return nil
}

func (s *state) automaticUpgrades(onOff string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	set.UpgradePolicy.EnableAutomaticOSUpgrade = ptr(onOff == "on")
	return nil
}

func (s *state) automaticRollback(onOff string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	set.UpgradePolicy.DisableAutomaticRollback = onOff == "off"
	return nil
}

func (s *state) prioritizeUnhealthy(how string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	set.UpgradePolicy.PrioritizeUnhealthyInstances = how == "go first"
	return nil
}

// healthyAfter sets the boot time so that an upgraded instance reports
// Healthy d after its reimage: boot, then the health extension's grace
// period (5 s by default).
func (s *state) healthyAfter(d string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	v, err := duration(d)
	if err != nil {
		return err
	}
	if v <= defaultGrace {
		return fmt.Errorf("an instance needs more than the %s grace period to report healthy", defaultGrace)
	}
	set.BootTime = &scenario.Duration{Duration: v - defaultGrace}
	return nil
}

func (s *state) itHasAnExtension(name, after string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	var deps []string
	if after != "nothing" {
		deps = names(after)
	}
	set.Extensions = append(set.Extensions, scenario.Extension{Name: name, Type: "CustomScript", TypeHandlerVersion: "2.1", ProvisionAfterExtensions: deps})
	return nil
}

func (s *state) sasExpiresAt(ext, at string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	d, err := duration(at)
	if err != nil {
		return err
	}
	for i := range set.Extensions {
		if set.Extensions[i].Name == ext {
			set.Extensions[i].SASExpiresAt = &scenario.Duration{Duration: d}
			return nil
		}
	}
	return fmt.Errorf("scale set %s has no extension %q", set.Name, ext)
}

// settings are the model properties `its <setting> is "<value>"` can set.
var settings = map[string]func(set *scenario.ScaleSet, v string) error{
	"image":           func(set *scenario.ScaleSet, v string) error { set.Image = v; return nil },
	"running version": func(set *scenario.ScaleSet, v string) error { set.RunningVersion = v; return nil },
	"region":          func(set *scenario.ScaleSet, v string) error { set.Region = v; return nil },
	"OS":              func(set *scenario.ScaleSet, v string) error { set.OS = v; return nil },
	"API version":     func(set *scenario.ScaleSet, v string) error { set.APIVersion = v; return nil },
	"health monitoring": func(set *scenario.ScaleSet, v string) error {
		m := map[string]string{"Application Health extension": "extension", "load-balancer probe": "probe", "none": "none"}
		h, ok := m[v]
		if !ok {
			return fmt.Errorf("health monitoring %q: want Application Health extension, load-balancer probe or none", v)
		}
		set.Health = h
		return nil
	},
	"load balancer SKU": func(set *scenario.ScaleSet, v string) error { set.LoadBalancerSKU = v; return nil },
	"placement groups": func(set *scenario.ScaleSet, v string) error {
		switch v {
		case "single":
			set.SinglePlacementGroup = ptr(true)
		case "multiple":
			set.SinglePlacementGroup = ptr(false)
		default:
			return fmt.Errorf("placement groups %q: want single or multiple", v)
		}
		return nil
	},
	"enableAutomaticUpdates": func(set *scenario.ScaleSet, v string) error {
		b, err := strconv.ParseBool(v)
		set.EnableAutomaticUpdates = &b
		return err
	},
	"Service Fabric durability": func(set *scenario.ScaleSet, v string) error {
		sf(set).Durability = v
		return nil
	},
	"Service Fabric extension durability": func(set *scenario.ScaleSet, v string) error {
		sf(set).ExtensionDurability = v
		return nil
	},
	"Service Fabric extension version": func(set *scenario.ScaleSet, v string) error {
		sf(set).TypeHandlerVersion = v
		return nil
	},
	"Service Fabric node types": func(set *scenario.ScaleSet, v string) error {
		switch v {
		case "stateless only":
			sf(set).StatelessOnly = true
		case "stateful":
			sf(set).StatelessOnly = false
		default:
			return fmt.Errorf("node types %q: want stateless only or stateful", v)
		}
		return nil
	},
	"health probe protocol": func(set *scenario.ScaleSet, v string) error {
		appHealth(set).Protocol = v
		return nil
	},
	"health probe interval": func(set *scenario.ScaleSet, v string) error {
		n, err := strconv.Atoi(v)
		appHealth(set).IntervalInSeconds = n
		return err
	},
	"health probe count": func(set *scenario.ScaleSet, v string) error {
		n, err := strconv.Atoi(v)
		appHealth(set).NumberOfProbes = n
		return err
	},
	"maxBatchInstancePercent":             percent(func(p *scenario.UpgradePolicy) **int { return &p.MaxBatchInstancePercent }),
	"maxUnhealthyInstancePercent":         percent(func(p *scenario.UpgradePolicy) **int { return &p.MaxUnhealthyInstancePercent }),
	"maxUnhealthyUpgradedInstancePercent": percent(func(p *scenario.UpgradePolicy) **int { return &p.MaxUnhealthyUpgradedInstancePercent }),
}

// sf is the set's Service Fabric node type, created on first use with
// Silver durability, extension 1.1 and a probe.
func sf(set *scenario.ScaleSet) *scenario.ServiceFabric {
	if set.ServiceFabric == nil {
		set.ServiceFabric = &scenario.ServiceFabric{Durability: "Silver", TypeHandlerVersion: "1.1"}
		set.Health = "probe"
	}
	return set.ServiceFabric
}

// appHealth is the set's Application Health extension settings.
func appHealth(set *scenario.ScaleSet) *scenario.AppHealth {
	if set.AppHealth == nil {
		set.AppHealth = &scenario.AppHealth{Protocol: "http", Port: 80, RequestPath: "/health"}
	}
	return set.AppHealth
}

func percent(field func(*scenario.UpgradePolicy) **int) func(*scenario.ScaleSet, string) error {
	return func(set *scenario.ScaleSet, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole percentage", v)
		}
		*field(&set.UpgradePolicy) = &n
		return nil
	}
}

func settingNames() string {
	var out []string
	for k := range settings {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func (s *state) itsSettingIs(name, value string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	f, ok := settings[name]
	if !ok {
		return fmt.Errorf("unknown setting %q (known: %s)", name, settingNames())
	}
	return f(set, value)
}
