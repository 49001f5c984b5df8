package scenario

import (
	"strings"
	"testing"
)

// fleetOf10000 declares MaxScaleSets sets in one count: entry spread over
// six regions, with timeline entries on the whole entry and on one set.
const fleetOf10000 = `name: fleet-10000
scaleSets:
  - name: web
    count: 10000
    regions: [eastus, westus, northeurope, westeurope, japaneast, japanwest]
    instances: 100
    zones: [1, 2, 3]
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 18.04.1
    upgradePolicy: {maxBatchInstancePercent: 20}
images:
  - {image: Canonical:UbuntuServer:18.04-LTS:18.04.2, publishAt: 30m}
timeline:
  - {at: 1h, fault: unhealthy, scaleSet: web, count: 1, duration: 1m}
  - {on: "batch 2 started", fault: maintenance, scaleSet: web-9999, percent: 10}
expect: {status: Completed}
`

// BenchmarkParseFleet10000 is the cost of reading a file of 10,000 sets:
// `go test ./harness/scenario -bench ParseFleet -benchmem`.
func BenchmarkParseFleet10000(b *testing.B) {
	data := []byte(fleetOf10000)
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse("fleet.yaml", data, vocab)
		if err != nil || len(f.ScaleSets) != MaxScaleSets {
			b.Fatal(err)
		}
	}
}

func TestFleetOf10000Parses(t *testing.T) {
	f, err := Parse("fleet.yaml", []byte(fleetOf10000), vocab)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.ScaleSets) != MaxScaleSets || f.ScaleSets[9999].Name != "web-9999" || f.ScaleSets[9999].Region != "westeurope" || len(f.Timeline[0].TargetSets()) != MaxScaleSets {
		t.Errorf("%d sets, last %+v", len(f.ScaleSets), f.ScaleSets[len(f.ScaleSets)-1])
	}
	if _, err := Parse("fleet.yaml", []byte(strings.Replace(fleetOf10000, "count: 10000", "count: 10001", 1)), vocab); err == nil {
		t.Error("10,001 sets parsed")
	}
}
