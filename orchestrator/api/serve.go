package api

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Serve is `osupgrade serve`: it parses args, opens the state in --data,
// serves HTTPS until ctx ends (SIGTERM), then shuts down gracefully. It
// returns the process exit code. newDockerFleet builds the Docker fleet for
// --fleet docker; nil in builds without it.
func Serve(ctx context.Context, args []string, stdout, stderr io.Writer, newDockerFleet DockerFleetFactory) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fleet := fs.String("fleet", "sim", "fleet backend: sim or docker")
	listen := fs.String("listen", "127.0.0.1:8443", "address to serve HTTPS on")
	data := fs.String("data", "osupgrade-data", "state directory (state.db, generated certificate and token)")
	clk := fs.String("clock", "real", "clock: real (scaled by --time-scale) or virtual (moves only through POST /osupgrade/clock)")
	scale := fs.Float64("time-scale", 1, "real clock: scenario seconds per wall second")
	tokenFile := fs.String("token-file", "", "file holding the bearer token (default: DATA/token, generated on first start)")
	certFile := fs.String("tls-cert", "", "TLS certificate file (default: a self-signed one generated into DATA)")
	keyFile := fs.String("tls-key", "", "TLS key file, with --tls-cert")
	seed := fs.Uint64("seed", 1, "seed of the platform schedule's draws and the simulated fleet")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: osupgrade serve [flags]\n\nServes the emulated Microsoft.Compute API over HTTPS with bearer-token auth.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected arguments %v\n", fs.Args())
		return 2
	}
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(stderr, "serve: --tls-cert and --tls-key go together")
		return 2
	}
	if *scale <= 0 {
		fmt.Fprintln(stderr, "serve: --time-scale must be more than 0")
		return 2
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	tf := *tokenFile
	if tf == "" {
		tf = filepath.Join(*data, "token")
	}
	token, created, err := TokenFromFile(tf, *tokenFile == "")
	if err != nil {
		fmt.Fprintf(stderr, "serve: token: %v\n", err)
		return 1
	}
	if created {
		fmt.Fprintf(stdout, "generated bearer token in %s\n", tf)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "serve: --listen %q: %v\n", *listen, err)
		return 2
	}
	if *certFile == "" {
		c, k, made, err := SelfSignedCert(*data, host, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "serve: certificate: %v\n", err)
			return 1
		}
		*certFile, *keyFile = c, k
		if made {
			fmt.Fprintf(stdout, "generated self-signed certificate %s\n", c)
		}
	}
	srv, err := Open(ctx, Options{
		DataDir: *data, Fleet: *fleet, NewDockerFleet: newDockerFleet, Clock: *clk, TimeScale: *scale,
		WallNow: time.Now, Token: token, Seed: *seed, Log: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	fmt.Fprintf(stdout, "osupgrade serve: listening on https://%s (fleet %s, clock %s, certificate %s, state %s)\n", ln.Addr(), *fleet, *clk, *certFile, filepath.Join(*data, "state.db"))

	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(runCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- hs.ServeTLS(ln, *certFile, *keyFile) }()

	code := 0
	runStopped := false
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "osupgrade serve: shutting down")
	case err := <-serveDone:
		fmt.Fprintf(stderr, "serve: %v\n", err)
		code = 1
	case err := <-runDone:
		fmt.Fprintf(stderr, "serve: runner stopped: %v\n", err)
		code, runStopped = 1, true
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "serve: shutdown: %v\n", err)
		code = 1
	}
	stopRunner()
	if !runStopped {
		select {
		case <-runDone:
		case <-shutdownCtx.Done():
		}
	}
	return code
}
