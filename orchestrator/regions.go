package orchestrator

import (
	"fmt"
	"slices"
)

// regionPairs are Azure's published region pairs for the regions osupgrade
// supports. Some pairings are one-way in Azure (westus3 -> eastus,
// brazilsouth -> southcentralus); for R-AVAIL-2 a pair is a pair both ways.
var regionPairs = [][2]string{
	{"eastus", "westus"},
	{"eastus2", "centralus"},
	{"northcentralus", "southcentralus"},
	{"westus2", "westcentralus"},
	{"westus3", "eastus"},
	{"brazilsouth", "southcentralus"},
	{"canadacentral", "canadaeast"},
	{"northeurope", "westeurope"},
	{"uksouth", "ukwest"},
	{"francecentral", "francesouth"},
	{"germanywestcentral", "germanynorth"},
	{"eastasia", "southeastasia"},
	{"japaneast", "japanwest"},
	{"koreacentral", "koreasouth"},
	{"australiaeast", "australiasoutheast"},
	{"centralindia", "southindia"},
}

// Regions lists the supported regions in the platform's rollout order.
func Regions() []string {
	var out []string
	for _, p := range regionPairs {
		for _, r := range p {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// KnownRegion reports a supported region.
func KnownRegion(r string) bool { return slices.Contains(Regions(), r) }

// Paired reports whether a and b are a geographic pair.
func Paired(a, b string) bool {
	for _, p := range regionPairs {
		if (p[0] == a && p[1] == b) || (p[0] == b && p[1] == a) {
			return true
		}
	}
	return false
}

// Phases groups regions into the platform's rollout phases (R-AVAIL-2):
// regions are taken in the platform's order and each goes into the first
// phase holding none of its pairs, so paired regions never share a phase.
func Phases(regions []string) ([][]string, error) {
	order := Regions()
	rs := slices.Clone(regions)
	for _, r := range rs {
		if !slices.Contains(order, r) {
			return nil, fmt.Errorf("region %q is not supported (supported: %v)", r, order)
		}
	}
	slices.SortFunc(rs, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	rs = slices.Compact(rs)
	var phases [][]string
next:
	for _, r := range rs {
		for i, ph := range phases {
			if !slices.ContainsFunc(ph, func(o string) bool { return Paired(o, r) }) {
				phases[i] = append(phases[i], r)
				continue next
			}
		}
		phases = append(phases, []string{r})
	}
	return phases, nil
}
