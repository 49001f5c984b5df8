package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// Client speaks to agents' control endpoints over HTTP+JSON.
type Client struct {
	HTTP *http.Client
}

// Status reads the status of the agent at host (an IP address).
func (c Client) Status(ctx context.Context, host string) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, host, "/status", nil, &s)
	return s, err
}

// SetFaults replaces the agent's fault switches.
func (c Client) SetFaults(ctx context.Context, host string, f Faults) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, host, "/faults", b, nil)
}

func (c Client) do(ctx context.Context, method, host, path string, body []byte, out any) error {
	u := "http://" + net.JoinHostPort(host, strconv.Itoa(ControlPort)) + path
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent %s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
