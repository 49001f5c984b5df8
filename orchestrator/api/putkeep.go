package api

// keepOnPut completes a PUT that updates a scale set with what ARM keeps
// from the stored model when the body leaves it out. A scale set PUT
// replaces the model, except for the properties the Compute provider treats
// as set once, or as write-only, which an update may omit:
//
//   - storageProfile.imageReference: `az vmss update` removes it from the
//     model it PUTs back (so that ARM does not check the caller's rights on
//     the image again); an omitted reference keeps the stored one, and a
//     given one replaces it whole;
//   - storageProfile.osDisk (its createOption, caching and osType are set
//     at creation) and dataDisks when storageProfile is omitted altogether;
//   - osProfile (computerNamePrefix and adminUsername cannot change; the
//     password and custom data are write-only and already kept elsewhere);
//   - platformFaultDomainCount and singlePlacementGroup (set at creation:
//     an omitted value is not a request for the default);
//   - zones (they can be added, never removed: omitted is not "none");
//   - sku, when the body has none (capacity and size stay).
//
// Everything else (upgradePolicy, extensions, networkProfile, tags) is
// replaced by what the body says, absent meaning absent, as in ARM.
// stored is the document as accepted before (write-only fields removed);
// doc is changed in place.
func keepOnPut(doc, stored *armVMSS) {
	if stored == nil || stored.Properties == nil {
		return
	}
	if doc.SKU == nil && stored.SKU != nil {
		s := *stored.SKU
		doc.SKU = &s
	}
	if len(doc.Zones) == 0 && len(stored.Zones) > 0 {
		doc.Zones = append([]string(nil), stored.Zones...)
	}
	if doc.Properties == nil {
		// Nothing of the model was sent: there is nothing to complete, and
		// toModel names the missing properties.
		return
	}
	p, sp := doc.Properties, stored.Properties
	if p.PlatformFaultDomainCount == nil && sp.PlatformFaultDomainCount != nil {
		p.PlatformFaultDomainCount = ptr(*sp.PlatformFaultDomainCount)
	}
	if p.SinglePlacementGroup == nil && sp.SinglePlacementGroup != nil {
		p.SinglePlacementGroup = ptr(*sp.SinglePlacementGroup)
	}
	svp := sp.VirtualMachineProfile
	if svp == nil {
		return
	}
	if p.VirtualMachineProfile == nil {
		p.VirtualMachineProfile = &armVMProfile{}
	}
	vp := p.VirtualMachineProfile
	if vp.OSProfile == nil && svp.OSProfile != nil {
		o := *svp.OSProfile
		vp.OSProfile = &o
	} else if vp.OSProfile != nil && svp.OSProfile != nil {
		if vp.OSProfile.ComputerNamePrefix == nil {
			vp.OSProfile.ComputerNamePrefix = svp.OSProfile.ComputerNamePrefix
		}
		if vp.OSProfile.AdminUsername == nil {
			vp.OSProfile.AdminUsername = svp.OSProfile.AdminUsername
		}
	}
	ssp := svp.StorageProfile
	if ssp == nil {
		return
	}
	if vp.StorageProfile == nil {
		vp.StorageProfile = &armStorageProfile{DataDisks: ssp.DataDisks}
	}
	if vp.StorageProfile.ImageReference == nil && ssp.ImageReference != nil {
		ir := *ssp.ImageReference
		ir.ExactVersion = nil // computed, never part of the model
		vp.StorageProfile.ImageReference = &ir
	}
	if vp.StorageProfile.OSDisk == nil && ssp.OSDisk != nil {
		d := *ssp.OSDisk
		vp.StorageProfile.OSDisk = &d
	}
}
