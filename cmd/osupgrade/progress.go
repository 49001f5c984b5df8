package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/osupgrade/osupgrade/internal/progress"
)

// progressFlag adds --progress (run, chaos, bench) to fs; newPrinter reads
// it once fs is parsed.
func progressFlag(fs *pflag.FlagSet) *string {
	return fs.String("progress", string(progress.Auto), progress.FlagHelp)
}

// newPrinter is the progress printer on stderr that --progress asks for;
// nil and a message naming the flag when its value is bad.
func newPrinter(command, mode string, stderr io.Writer) *progress.Printer {
	m, err := progress.ParseMode(mode)
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade %s: %v\n", command, err)
		return nil
	}
	return progress.New(stderr, m)
}
