// Package progress is what run, chaos, bench and the Docker fleet's set-up
// say while they work, in one of three modes: on a terminal one live line
// rewritten in place (and the lines that stay), off a terminal (a CI log)
// one plain line per event that matters, or nothing.
package progress

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Mode is the --progress flag's value.
type Mode string

const (
	Auto  Mode = "auto"  // Live on a terminal, Plain otherwise
	Live  Mode = "live"  // a terminal's rewritten line (what auto picks on one)
	Plain Mode = "plain" // one line per event, for logs
	None  Mode = "none"  // nothing
)

// FlagHelp describes --progress for a command's usage.
const FlagHelp = "progress on stderr: auto (a live line on a terminal, plain otherwise), plain (one line per event, for CI logs) or none"

// ParseMode reads a --progress value: auto, plain or none.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, Plain, None:
		return m, nil
	}
	return "", fmt.Errorf("--progress is %q, want auto, plain or none", s)
}

// IsTerminal says whether w is a terminal: colours and rewritten lines are
// for people, not CI logs.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Printer writes progress in one mode. Its methods are safe for concurrent
// use (scenarios may run at once) and do nothing on a nil *Printer.
type Printer struct {
	mu   sync.Mutex
	w    io.Writer
	mode Mode // Live, Plain or None
	open bool // Live: a status line is on screen, without its newline
}

// New is a printer on w; Auto picks Live when w is a terminal.
func New(w io.Writer, mode Mode) *Printer {
	if mode == Auto {
		mode = Plain
		if IsTerminal(w) {
			mode = Live
		}
	}
	if w == nil {
		mode = None
	}
	return &Printer{w: w, mode: mode}
}

// Mode is Live, Plain or None.
func (p *Printer) Mode() Mode {
	if p == nil {
		return None
	}
	return p.mode
}

// Status is what is happening now, for the live line only: plain mode
// keeps it out of the log.
func (p *Printer) Status(format string, args ...any) {
	if p.Mode() == Live {
		p.status(fmt.Sprintf(format, args...))
	}
}

// Event is something that matters (a batch started, a benchmark turn): on
// the live line, or a line of its own in plain mode.
func (p *Printer) Event(format string, args ...any) {
	switch p.Mode() {
	case Live:
		p.status(fmt.Sprintf(format, args...))
	case Plain:
		p.line(fmt.Sprintf(format, args...))
	}
}

// Note is a line that stays in both modes (a failure, a set-up step): on a
// terminal it goes above the live line.
func (p *Printer) Note(format string, args ...any) {
	if p.Mode() != None {
		p.line(fmt.Sprintf(format, args...))
	}
}

// Clear removes the live line, before other output on the same stream.
func (p *Printer) Clear() {
	if p.Mode() != Live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
}

func (p *Printer) status(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K%s", oneLine(s))
	p.open = true
}

func (p *Printer) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
	fmt.Fprintf(p.w, "%s\n", oneLine(s))
}

// oneLine keeps a message to one line: a live line cannot be rewritten
// across a newline, and a plain log wants one event a line.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", " ")
}

// Writer is an io.Writer for packages that print progress lines of their
// own (the Docker fleet): each line written is a Note; nil when p prints
// nothing, which those packages read as silent.
func (p *Printer) Writer() io.Writer {
	if p.Mode() == None {
		return nil
	}
	return &lineWriter{p: p}
}

type lineWriter struct {
	p   *Printer
	mu  sync.Mutex
	buf []byte
}

func (lw *lineWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, b...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		// A writer's own terminal control (\r, erase line) is ours to do.
		s := strings.TrimSpace(strings.ReplaceAll(string(lw.buf[:i]), "\033[K", ""))
		if j := strings.LastIndexByte(s, '\r'); j >= 0 {
			s = s[j+1:]
		}
		if s != "" {
			lw.p.Note("%s", s)
		}
		lw.buf = lw.buf[i+1:]
	}
}

// Every says when a periodic status deserves a plain line: the first
// time, then every N calls or once Interval has passed on Now since the
// last line.
type Every struct {
	N        int
	Interval time.Duration
	Now      func() time.Time

	calls int
	last  time.Time
}

// Due counts a call and says whether it gets a line.
func (e *Every) Due() bool {
	e.calls++
	now := e.Now()
	if e.calls == 1 || (e.N > 0 && (e.calls-1)%e.N == 0) || (e.Interval > 0 && now.Sub(e.last) >= e.Interval) {
		e.last = now
		return true
	}
	return false
}
