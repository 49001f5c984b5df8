package storage_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLeavesOutTheArrowStack fails when the osupgrade binary links
// apache/arrow-go or what it drags in: they came only through the root azblob
// package (azblob → azblob/container → its arrow support), which this
// package must not import; blob and sas are all it needs.
func TestBinaryLeavesOutTheArrowStack(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the binary's packages")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/osupgrade/osupgrade/cmd/osupgrade").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/osupgrade: %v\n%s", err, out)
	}
	unwanted := []string{"github.com/apache/arrow-go/", "github.com/google/flatbuffers/", "github.com/pierrec/lz4/", "github.com/zeebo/xxh3", "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, u := range unwanted {
			if strings.HasPrefix(pkg, u) {
				t.Errorf("the osupgrade binary links %s", pkg)
				break
			}
		}
	}
}
