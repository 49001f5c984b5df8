package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/progress"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// Timeouts of the HTTP server: a client that sends its headers or body a
// byte at a time, or holds an idle keep-alive connection, is cut off
// instead of holding a goroutine and a descriptor for ever. No endpoint
// streams; the longest request is a virtual-clock move that steps every
// event on its way, which WriteTimeout leaves minutes for.
type httpTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

var serveTimeouts = httpTimeouts{
	ReadHeader: 10 * time.Second, // the request line and headers
	Read:       time.Minute,      // headers and body (at most 4 MiB)
	Write:      5 * time.Minute,  // from the end of the headers to the end of the response
	Idle:       2 * time.Minute,  // a keep-alive connection between requests
}

// maxHeaderBytes bounds a request's line and headers (ARM's are short).
const maxHeaderBytes = 64 << 10

func newHTTPServer(h http.Handler, t httpTimeouts) *http.Server {
	return &http.Server{
		Handler: h, MaxHeaderBytes: maxHeaderBytes,
		ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle,
	}
}

// minTokenBytes is the shortest bearer token serve accepts without
// --allow-weak-token (the generated ones have 48 characters).
const minTokenBytes = 32

// serveConfig is what `osupgrade serve` was told, checked.
type serveConfig struct {
	fleet, listen, data, clock   string
	scale                        float64
	tokenFile, certFile, keyFile string
	seed                         uint64
	generateToken                bool // the token file is DATA/token and does not exist yet
	logFormat                    string
	logLevel                     slog.Level
	warnings                     []string
}

// parseServeFlags reads and checks every flag, touching nothing on disk:
// a bad flag must leave the data directory as it was (or absent). It
// returns the exit code when serve must stop (0 for -h).
func parseServeFlags(ctx context.Context, args []string, stderr io.Writer, resolve func(context.Context, string) ([]net.IP, error)) (serveConfig, int, bool) {
	var c serveConfig
	fs := cliflag.NewFlagSet("serve", stderr)
	fs.StringVar(&c.fleet, "fleet", DefaultFleet, "fleet backend: "+backend.List())
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8443", "address to serve HTTPS on (HOST:PORT; a loopback host unless --allow-remote)")
	fs.StringVar(&c.data, "data", "osupgrade-data", "state directory (state.db, generated certificate, token, service principal: client-id, client-secret, token-signing-key.pem)")
	fs.StringVar(&c.clock, "clock", "real", "clock: real (scaled by --time-scale) or virtual (moves only through POST /osupgrade/clock)")
	fs.Float64Var(&c.scale, "time-scale", 1, "real clock: scenario seconds per wall second")
	tokenFile := fs.String("token-file", "", "file holding the bearer token, at least 32 bytes, readable by its owner only (default: DATA/token, generated on first start)")
	fs.StringVar(&c.certFile, "tls-cert", "", "TLS certificate file (default: a self-signed one generated into DATA)")
	fs.StringVar(&c.keyFile, "tls-key", "", "TLS key file, with --tls-cert")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the platform schedule's draws and the simulated fleet")
	allowRemote := fs.Bool("allow-remote", false, "allow a --listen address other machines can reach (0.0.0.0, ::, a non-loopback address or host name)")
	fs.StringVar(&c.logFormat, "log-format", "text", "stderr log: text (key=value) or json, one record a line")
	logLevel := fs.String("log-level", "info", "least level logged: debug, info (one access line per request), warn or error")
	allowWeak := fs.Bool("allow-weak-token", false, "accept a token shorter than 32 bytes or a token file readable by group or others (with a warning)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: osupgrade serve [flags]\n\nServes the emulated Microsoft.Compute API over HTTPS. Clients sign in as the\nservice principal in DATA/client-id and DATA/client-secret at the token\nendpoint https://LISTEN/adfs/oauth2/token (tenant \"adfs\"), or send the static\nbearer token of --token-file.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return c, code, false
	}
	refuse := func(format string, a ...any) (serveConfig, int, bool) {
		fmt.Fprintf(stderr, "serve: "+format+"\n", a...)
		return c, 2, false
	}
	switch {
	case fs.NArg() > 0:
		return refuse("unexpected arguments %v", fs.Args())
	case (c.certFile == "") != (c.keyFile == ""):
		return refuse("--tls-cert and --tls-key go together")
	case !(c.scale > 0) || math.IsInf(c.scale, 0):
		return refuse("--time-scale %v: want a number more than 0", c.scale)
	case !registered(c.fleet):
		_, err := backend.Lookup(c.fleet)
		return refuse("--fleet %q: %v", c.fleet, err)
	case c.clock != "real" && c.clock != "virtual":
		return refuse("--clock %q: want real or virtual", c.clock)
	case c.data == "":
		return refuse("--data: a directory is required")
	case c.logFormat != "text" && c.logFormat != "json":
		return refuse("--log-format %q: want text or json", c.logFormat)
	}
	level, ok := logLevels[*logLevel]
	if !ok {
		return refuse("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	c.logLevel = level
	for _, f := range []string{c.certFile, c.keyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return refuse("TLS file: %v", err)
		}
	}
	c.tokenFile = *tokenFile
	if c.tokenFile == "" {
		c.tokenFile = filepath.Join(c.data, "token")
	}
	remote, err := checkListen(ctx, c.listen, resolve)
	if err != nil {
		return refuse("--listen %q: %v", c.listen, err)
	}
	if remote != "" {
		if !*allowRemote {
			return refuse("--listen %q: %s, reachable from other machines; serve only listens on loopback unless --allow-remote is given", c.listen, remote)
		}
		c.warnings = append(c.warnings, fmt.Sprintf("--listen %s: %s, reachable from other machines: anyone who can read the token file %s controls the emulator", c.listen, remote, c.tokenFile))
	}
	tok, _, err := TokenFromFile(c.tokenFile, false)
	switch {
	case errors.Is(err, os.ErrNotExist) && *tokenFile == "":
		c.generateToken = true
	case err != nil:
		return refuse("--token-file: %v", err)
	default:
		if weak := tokenWeaknesses(c.tokenFile, tok); len(weak) > 0 {
			if !*allowWeak {
				return refuse("token file %s: %s (--allow-weak-token accepts it)", c.tokenFile, strings.Join(weak, "; "))
			}
			c.warnings = append(c.warnings, fmt.Sprintf("token file %s: %s", c.tokenFile, strings.Join(weak, "; ")))
		}
	}
	return c, 0, true
}

// registered says whether a fleet backend of that name is linked in.
func registered(fleet string) bool {
	_, err := backend.Lookup(fleet)
	return err == nil
}

// setupLines is where a wall-clock fleet's set-up lines go: stderr on a
// terminal, for a person watching; elsewhere stderr is slog's, and they go
// nowhere.
func setupLines(stderr io.Writer) io.Writer {
	if progress.IsTerminal(stderr) {
		return stderr
	}
	return nil
}

// logLevels are --log-level's values.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// newLogger is serve's log on w: slog records in text or JSON, from level
// up.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// checkListen checks a HOST:PORT to listen on; remote describes why other
// machines could reach it ("" for loopback only). A host name counts as
// loopback only if every address it resolves to is.
func checkListen(ctx context.Context, addr string, resolve func(context.Context, string) ([]net.IP, error)) (remote string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return "", fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		return "every interface", nil
	case ip != nil && ip.IsUnspecified():
		return fmt.Sprintf("%s is every interface", host), nil
	case ip != nil && !ip.IsLoopback():
		return fmt.Sprintf("%s is not a loopback address", host), nil
	case ip != nil:
		return "", nil
	}
	ips, err := resolve(ctx, host)
	if err != nil {
		return "", fmt.Errorf("host %s: %w", host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("host %s resolves to no address", host)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Sprintf("host %s resolves to %s, not a loopback address", host, ip), nil
		}
	}
	return "", nil
}

// tokenWeaknesses says what makes a token guessable or readable by others.
func tokenWeaknesses(path, tok string) []string {
	var out []string
	if len(tok) < minTokenBytes {
		out = append(out, fmt.Sprintf("the token is %d bytes, shorter than %d", len(tok), minTokenBytes))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		out = append(out, fmt.Sprintf("mode %v lets group or others read it (chmod 600 it)", fi.Mode().Perm()))
	}
	return out
}

// Serve is `osupgrade serve`: it parses args, opens the state in --data,
// serves HTTPS until ctx ends (SIGTERM), then shuts down gracefully. It
// returns the process exit code. --fleet names a backend the program links
// (package backend's registry). Every flag is checked before anything is
// written to the data directory.
func Serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, code, ok := parseServeFlags(ctx, args, stderr, func(ctx context.Context, host string) ([]net.IP, error) {
		return net.DefaultResolver.LookupIP(ctx, "ip", host)
	})
	if !ok {
		return code
	}
	// stdout keeps its lines (scripts read the address from it); stderr
	// is the log.
	log := newLogger(stderr, c.logFormat, c.logLevel)
	for _, w := range c.warnings {
		log.Warn("serve: insecure configuration", "warning", w)
	}
	// Until it listens, what stops serve is said plainly, as by every
	// command: the person starting it reads it (a damaged state's
	// message is several lines of what to do).
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	// The state first: a damaged state.db is refused before a token, a
	// certificate or an identity is written beside it. Open owns it.
	stateDB, err := openState(c.data)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	opened := false
	defer func() {
		if !opened {
			stateDB.Close()
		}
	}()
	tf := c.tokenFile
	token, created, err := TokenFromFile(tf, c.generateToken)
	if err != nil {
		fmt.Fprintf(stderr, "serve: token: %v\n", err)
		return 1
	}
	if created {
		fmt.Fprintf(stdout, "generated bearer token in %s\n", tf)
		log.Info("serve: generated bearer token", "file", tf)
	}
	host, _, _ := net.SplitHostPort(c.listen)
	if c.certFile == "" {
		cert, key, made, err := SelfSignedCert(c.data, host, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "serve: certificate: %v\n", err)
			return 1
		}
		c.certFile, c.keyFile = cert, key
		if made {
			fmt.Fprintf(stdout, "generated self-signed certificate %s\n", cert)
			log.Info("serve: generated self-signed certificate", "file", cert)
		}
	}
	srv, err := Open(ctx, Options{
		DataDir: c.data, Fleet: c.fleet, Progress: setupLines(stderr), Clock: c.clock, TimeScale: c.scale,
		WallNow: time.Now, Token: token, Seed: c.seed, Logger: log, state: stateDB,
	})
	opened = true // closed by Open on failure, by srv.Close after
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	defer srv.Close()
	sp := srv.ServicePrincipal()
	if sp.Created {
		fmt.Fprintf(stdout, "generated service principal in %s and %s\n", sp.ClientIDFile, sp.ClientSecretFile)
		log.Info("serve: generated service principal", "client-id-file", sp.ClientIDFile, "client-secret-file", sp.ClientSecretFile)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	hs := newHTTPServer(srv.Handler(), serveTimeouts)
	hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn) // TLS handshake and connection errors
	state := filepath.Join(c.data, "state.db")
	fmt.Fprintf(stdout, "osupgrade serve: listening on https://%s (fleet %s, clock %s, certificate %s, state %s)\n", ln.Addr(), c.fleet, c.clock, c.certFile, state)
	log.Info("serve: listening", "url", "https://"+ln.Addr().String(), "fleet", c.fleet, "clock", c.clock, "certificate", c.certFile, "state", state)
	// What a client signs in with: az, azure-identity and azidentity take
	// the ADFS-style authority without asking a public host (README.md,
	// "Quickstart with az, Python and Go").
	url := "https://" + ln.Addr().String()
	fmt.Fprintf(stdout, "osupgrade serve: sign in at %s/adfs (tenant %s) as client id %s, secret in %s; az cloud register --endpoint-resource-manager %s/\n",
		url, sp.Tenant, sp.ClientID, sp.ClientSecretFile, url)
	log.Info("serve: service principal", "authority", url+"/adfs", "tenant", sp.Tenant, "client-id", sp.ClientID, "client-secret-file", sp.ClientSecretFile)

	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(runCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- hs.ServeTLS(ln, c.certFile, c.keyFile) }()

	code = 0
	runStopped := false
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "osupgrade serve: shutting down")
		log.Info("serve: shutting down")
	case err := <-serveDone:
		log.Error("serve: HTTP server stopped", "err", err)
		code = 1
	case err := <-runDone:
		log.Error("serve: runner stopped", "err", err)
		code, runStopped = 1, true
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		log.Error("serve: shutdown", "err", err)
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
