package fleettest_test

import (
	"testing"

	"github.com/osupgrade/osupgrade/fakes/fleettest"

	_ "github.com/osupgrade/osupgrade/fakes/backends" // every backend, registered by name
)

// Every registered backend keeps the whole contract.
func TestContract(t *testing.T) { fleettest.RunRegistered(t) }

// Which backends must be available: CI has the Docker engine, not a swarm.
func TestRequired(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"docker", map[string]string{}, false},
		{"docker", map[string]string{"CI": "true"}, true},
		{"docker", map[string]string{"OSUPGRADE_REQUIRE_DOCKER": "1"}, true},
		{"swarm", map[string]string{"CI": "true"}, false},
		{"swarm", map[string]string{"CI": "true", fleettest.RequiredFleetsEnv: "docker, swarm"}, true},
		{"docker", map[string]string{"CI": "true", fleettest.RequiredFleetsEnv: "swarm"}, false},
		{"sim", map[string]string{fleettest.RequiredFleetsEnv: "sim"}, true},
	}
	for _, tt := range tests {
		if got := fleettest.Required(tt.name, func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("Required(%s) with %v = %v, want %v", tt.name, tt.env, got, tt.want)
		}
	}
}
