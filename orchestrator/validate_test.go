package orchestrator

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

func validSet() ScaleSet {
	return ScaleSet{
		Name: "web", Region: "eastus", UpdateDomains: 5, Capacity: 10, OS: "linux",
		Image:  ImageReference{Publisher: "Canonical", Offer: "UbuntuServer", SKU: "18.04-LTS", Version: "latest"},
		Health: plan.HealthExtension, SinglePlacementGroup: true, LoadBalancerSKU: "Standard",
		APIVersion: DefaultAPIVersion, EnableAutomaticOSUpgrade: true, Rolling: plan.DefaultRollingUpgradePolicy(),
	}
}

func ptr[T any](v T) *T { return &v }

// R-REQ-1..R-REQ-7 and R-REQ-9: a broken model is refused with the rule
// and the property named.
func TestValidate_Requirements(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*ScaleSet)
		rule   string
		target string
	}{
		{"R-REQ-1 pinned platform version", func(s *ScaleSet) { s.Image.Version = "18.04.202101010" }, "R-REQ-1", "imageReference.version"},
		{"R-REQ-1 pinned gallery version", func(s *ScaleSet) { s.Image = ImageReference{Gallery: "g", GalleryImage: "i", Version: "1.0.0"} }, "R-REQ-1", "imageReference.id"},
		{"R-REQ-2 no probe and no health extension", func(s *ScaleSet) { s.Health = plan.HealthNone }, "R-REQ-2", "healthProbe"},
		{"R-REQ-2 Service Fabric Bronze stateless without a probe", func(s *ScaleSet) {
			s.Health = plan.HealthNone
			s.ServiceFabric = &ServiceFabric{Durability: "Bronze", ExtensionDurability: "Bronze", TypeHandlerVersion: "1.1", StatelessOnly: true}
		}, "R-REQ-2", "healthProbe"},
		{"R-REQ-3 API version before 2018-10-01", func(s *ScaleSet) { s.APIVersion = "2018-06-01" }, "R-REQ-3", "api-version"},
		{"R-REQ-4 Windows with automatic updates on", func(s *ScaleSet) {
			s.OS = "windows"
			s.Image = ImageReference{Publisher: "MicrosoftWindowsServer", Offer: "WindowsServer", SKU: "2019-Datacenter", Version: "latest"}
			s.EnableAutomaticUpdates = ptr(true)
		}, "R-REQ-4", "enableAutomaticUpdates"},
		{"R-REQ-4 Windows with automatic updates unset (Azure's default is on)", func(s *ScaleSet) {
			s.OS = "windows"
			s.Image = ImageReference{Publisher: "MicrosoftWindowsServer", Offer: "WindowsServer", SKU: "2019-Datacenter", Version: "latest"}
		}, "R-REQ-4", "enableAutomaticUpdates"},
		{"R-REQ-5 Service Fabric Bronze stateful", func(s *ScaleSet) {
			s.Health = plan.HealthProbe
			s.ServiceFabric = &ServiceFabric{Durability: "Bronze", ExtensionDurability: "Bronze", TypeHandlerVersion: "1.1"}
		}, "R-REQ-5", "durabilityLevel"},
		{"R-REQ-5 Service Fabric extension 1.0", func(s *ScaleSet) {
			s.Health = plan.HealthNone
			s.ServiceFabric = &ServiceFabric{Durability: "Silver", ExtensionDurability: "Silver", TypeHandlerVersion: "1.0"}
		}, "R-REQ-5", "typeHandlerVersion"},
		{"R-REQ-5 durability mismatch", func(s *ScaleSet) {
			s.Health = plan.HealthNone
			s.ServiceFabric = &ServiceFabric{Durability: "Gold", ExtensionDurability: "Silver", TypeHandlerVersion: "1.1"}
		}, "R-REQ-5", "durabilityLevel"},
		{"R-REQ-5 application health extension on Service Fabric", func(s *ScaleSet) {
			s.ServiceFabric = &ServiceFabric{Durability: "Silver", ExtensionDurability: "Silver", TypeHandlerVersion: "1.1"}
		}, "R-REQ-5", "ApplicationHealth"},
		{"R-REQ-6 unsupported platform SKU", func(s *ScaleSet) { s.Image.SKU = "22.04-LTS" }, "R-REQ-6", "imageReference"},
		{"R-REQ-7 multiple placement groups with a Basic load balancer", func(s *ScaleSet) {
			s.Health, s.SinglePlacementGroup, s.LoadBalancerSKU = plan.HealthProbe, false, "Basic"
		}, "R-REQ-7", "healthProbe"},
		{"R-REQ-9 provisionAfterExtensions names a missing extension", func(s *ScaleSet) {
			s.Extensions = []Extension{{Name: "a", Type: "CustomScript", ProvisionAfterExtensions: []string{"b"}}}
		}, "R-REQ-9", "provisionAfterExtensions"},
		{"R-REQ-9 extension cycle", func(s *ScaleSet) {
			s.Extensions = []Extension{{Name: "a", ProvisionAfterExtensions: []string{"c"}}, {Name: "b", ProvisionAfterExtensions: []string{"a"}}, {Name: "c", ProvisionAfterExtensions: []string{"b"}}}
		}, "R-REQ-9", "provisionAfterExtensions"},
		{"rolling policy out of range", func(s *ScaleSet) { s.Rolling.MaxBatchInstancePercent = 120 }, "", "rollingUpgradePolicy.maxBatchInstancePercent"},
		{"unknown region", func(s *ScaleSet) { s.Region = "moon" }, "", "location"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSet()
			c.edit(&s)
			err := Validate(&s)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a ValidationError", err)
			}
			if !errors.Is(err, ErrInvalidModel) {
				t.Errorf("errors.Is(ErrInvalidModel) is false")
			}
			if ve.Rule != c.rule || !strings.Contains(ve.Target, c.target) {
				t.Errorf("rule %q target %q, want rule %q target containing %q (%v)", ve.Rule, ve.Target, c.rule, c.target, err)
			}
		})
	}
	ok := []func(*ScaleSet){
		func(*ScaleSet) {},
		func(s *ScaleSet) { s.Image = ImageReference{Gallery: "g", GalleryImage: "i"} },
		func(s *ScaleSet) {
			s.Health = plan.HealthNone
			s.ServiceFabric = &ServiceFabric{Durability: "Silver", ExtensionDurability: "Silver", TypeHandlerVersion: "1.1", StatelessOnly: false}
		},
		func(s *ScaleSet) {
			s.EnableAutomaticOSUpgrade, s.Health, s.Image.Version = false, plan.HealthNone, "18.04.1"
		},
		func(s *ScaleSet) {
			s.OS = "windows"
			s.Image = ImageReference{Publisher: "MicrosoftWindowsServer", Offer: "WindowsServer", SKU: "2016-Datacenter", Version: "latest"}
			s.APIVersion, s.EnableAutomaticUpdates = "2018-10-01", ptr(true) // before 2019-03-01 it is allowed
		},
		func(s *ScaleSet) {
			s.Extensions = []Extension{{Name: "b", ProvisionAfterExtensions: []string{"a"}}, {Name: "a"}}
		},
	}
	for i, edit := range ok {
		s := validSet()
		edit(&s)
		if err := Validate(&s); err != nil {
			t.Errorf("valid model %d refused: %v", i, err)
		}
	}
}

// R-REQ-9: extensions run after the ones they name.
func TestExtensionOrder_RREQ9(t *testing.T) {
	exts := []Extension{{Name: "app", ProvisionAfterExtensions: []string{"config", "agent"}}, {Name: "config", ProvisionAfterExtensions: []string{"agent"}}, {Name: "agent"}}
	got, err := ExtensionOrder(exts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
	}
	if want := []string{"agent", "config", "app"}; !slices.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
}

// R-REQ-8: publisher and offer of an existing scale set never change.
func TestValidateUpdate_RREQ8(t *testing.T) {
	old := validSet()
	for _, c := range []struct {
		name  string
		edit  func(*ScaleSet)
		field string
	}{
		{"offer", func(s *ScaleSet) { s.Image.Offer = "Other" }, "offer"},
		{"publisher", func(s *ScaleSet) { s.Image.Publisher = "OpenLogic" }, "publisher"},
		{"platform to gallery", func(s *ScaleSet) { s.Image = ImageReference{Gallery: "g", GalleryImage: "i"} }, "imageReference"},
	} {
		n := old
		c.edit(&n)
		var ve *ValidationError
		if err := ValidateUpdate(&old, &n); !errors.As(err, &ve) || ve.Rule != "R-REQ-8" || !strings.Contains(ve.Target, c.field) {
			t.Errorf("%s: ValidateUpdate() = %v, want R-REQ-8 on %s", c.name, err, c.field)
		}
	}
	n := old
	n.Image.SKU = "16.04-LTS" // a SKU change through the model is the user's to make
	if err := ValidateUpdate(&old, &n); err != nil {
		t.Errorf("SKU change refused: %v", err)
	}
}

// R-AVAIL-2: paired regions never share a phase.
func TestPhases_RAVAIL2(t *testing.T) {
	regions := []string{"westus", "eastus", "westus3", "centralus", "eastus2", "northeurope", "westeurope", "southcentralus", "brazilsouth", "northcentralus"}
	phases, err := Phases(regions)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, ph := range phases {
		for i, a := range ph {
			seen++
			for _, b := range ph[i+1:] {
				if Paired(a, b) {
					t.Errorf("paired regions %s and %s share phase %v", a, b, ph)
				}
			}
		}
	}
	if seen != len(regions) || len(phases) < 2 {
		t.Errorf("phases %v", phases)
	}
	if _, err := Phases([]string{"atlantis"}); err == nil {
		t.Error("an unknown region was accepted")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"18.04.202102010", "18.04.202101010", 1}, {"1.10.0", "1.9.0", 1}, {"1.0", "1.0.0", -1}, {"2.0.0", "2.0.0", 0},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
