// Command healthprobe is the HEALTHCHECK of the benchmark's Swarm service and
// images: it exits 0 when the in-VM agent reports its Application Health
// extension Healthy, 1 otherwise. It is built static into images FROM scratch,
// which have no shell or curl.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/osupgrade/osupgrade/fakes/agent"
)

func main() {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(agent.ControlPort) + "/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	var s struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.Health != "Healthy" {
		fmt.Fprintf(os.Stderr, "health %q %v\n", s.Health, err)
		os.Exit(1)
	}
}
