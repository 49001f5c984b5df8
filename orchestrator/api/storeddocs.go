package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/fakes/sim"
	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
)

// storedDocs decodes every kind of document the server keeps in state.db,
// into the types and with the key formats it reads them with. Open hands
// them to boltstore, which runs them over the whole file before anything is
// loaded or written: a damaged document stops serve with the store's damage
// message (the file, the record, what to do), not with a bare decoding
// error from whichever load step meets it first, or a 500 from the request
// that reads it later.
var storedDocs = boltstore.Decoders{
	kindARM:   decodeSetMeta,
	kindFleet: decodes[fleetSetDoc],
	kindFleetVM: func(k string, doc []byte) error {
		if _, _, err := parseVMKey(k); err != nil {
			return err
		}
		return decodes[instanceDoc](k, doc)
	},
	kindFleetLog: func(k string, doc []byte) error {
		if _, err := strconv.ParseUint(k, 10, 64); err != nil {
			return fmt.Errorf("a fleet log key is not a sequence number: %w", err)
		}
		return decodes[FleetLogEntry](k, doc)
	},
	kindSimFleet: decodes[sim.Snapshot],
	kindSimSet:   decodes[sim.SetSnapshot],
	kindBad: func(_ string, doc []byte) error {
		_, err := fault.ParseBadKind(string(doc))
		return err
	},
	kindSwitch: func(k string, doc []byte) error {
		if _, _, err := parseSwitchKey(k); err != nil {
			return err
		}
		return decodes[savedSwitch](k, doc)
	},
	kindOperations: decodes[operation],
	kindGroups:     decodes[resourceGroup],
	kindGalleries:  decodes[galleryVersion],
	// Deployments and network resources are served as stored: they must
	// be JSON objects.
	kindDeployments: decodes[map[string]json.RawMessage],
	kindNetwork:     decodes[map[string]json.RawMessage],
}

// decodeSetMeta also requires what every stored set had and render reads
// without looking: a unique id as newID makes them (a VM's id is cut from
// it), and documents with a storage profile (toModel refuses the rest).
func decodeSetMeta(_ string, doc []byte) error {
	m, err := unmarshalDoc[setMeta](doc)
	if err != nil {
		return err
	}
	if len(m.UniqueID) != len("00000000-0000-0000-0000-000000000000") {
		return fmt.Errorf("the unique id %q is not one newID makes", m.UniqueID)
	}
	docs := []*armVMSS{m.Doc}
	if m.Pending != nil {
		docs = append(docs, m.Pending.Doc)
	}
	for _, d := range docs {
		if d == nil {
			continue
		}
		if p := d.Properties; p == nil || p.VirtualMachineProfile == nil || p.VirtualMachineProfile.StorageProfile == nil || p.VirtualMachineProfile.StorageProfile.ImageReference == nil {
			return errors.New("the scale set document lacks its properties' storage profile")
		}
	}
	return nil
}

func decodes[T any](_ string, doc []byte) error {
	_, err := unmarshalDoc[T](doc)
	return err
}

// parseVMKey splits a fleet instance key (vmKey).
func parseVMKey(k string) (set string, id int, err error) {
	i := strings.LastIndexByte(k, '/')
	if i < 0 {
		return "", 0, fmt.Errorf("fleet instance key %q", k)
	}
	if id, err = strconv.Atoi(k[i+1:]); err != nil {
		return "", 0, fmt.Errorf("fleet instance key %q", k)
	}
	return k[:i], id, nil
}

// parseSwitchKey splits a switch ledger key: set/instance/group.
func parseSwitchKey(k string) (set string, id int, err error) {
	parts := strings.Split(k, "/")
	if len(parts) != 3 {
		return "", 0, fmt.Errorf("saved switch key %q", k)
	}
	if id, err = strconv.Atoi(parts[1]); err != nil {
		return "", 0, fmt.Errorf("saved switch key %q", k)
	}
	return parts[0], id, nil
}
