package bmc

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// rfMedia is a Redfish VirtualMedia resource.
type rfMedia struct {
	ID         string   `json:"@odata.id"`
	MediaTypes []string `json:"MediaTypes"`
	Inserted   bool     `json:"Inserted"`
	Image      string   `json:"Image"`
	Actions    struct {
		Insert struct {
			Target string `json:"target"`
		} `json:"#VirtualMedia.InsertMedia"`
		Eject struct {
			Target string `json:"target"`
		} `json:"#VirtualMedia.EjectMedia"`
	} `json:"Actions"`
}

// virtualCD finds the first VirtualMedia device that takes a CD or DVD: under the
// ComputerSystem (Redfish 2022.3 and later) or under its Manager (older BMCs, and many
// current ones).
func (r *redfishBMC) virtualCD(ctx context.Context) (rfMedia, error) {
	s, err := r.system(ctx)
	if err != nil {
		return rfMedia{}, err
	}
	var colls []string
	if s.VirtualMedia.ID != "" {
		colls = append(colls, s.VirtualMedia.ID)
	}
	for _, m := range s.Links.ManagedBy {
		var mgr struct {
			VirtualMedia odataID `json:"VirtualMedia"`
		}
		if err := r.do(ctx, http.MethodGet, m.ID, nil, &mgr); err != nil {
			return rfMedia{}, err
		}
		if mgr.VirtualMedia.ID != "" {
			colls = append(colls, mgr.VirtualMedia.ID)
		}
	}
	for _, c := range colls {
		var coll struct {
			Members []odataID `json:"Members"`
		}
		if err := r.do(ctx, http.MethodGet, c, nil, &coll); err != nil {
			return rfMedia{}, err
		}
		for _, m := range coll.Members {
			var vm rfMedia
			if err := r.do(ctx, http.MethodGet, m.ID, nil, &vm); err != nil {
				return rfMedia{}, err
			}
			if vm.ID == "" {
				vm.ID = m.ID
			}
			if slices.Contains(vm.MediaTypes, "CD") || slices.Contains(vm.MediaTypes, "DVD") {
				return vm, nil
			}
		}
	}
	return rfMedia{}, fmt.Errorf("%w: %s has no virtual CD/DVD (looked under the system and its managers)", ErrUnsupported, s.ID)
}

// target is the action's listed target, or the DMTF schema's conventional URI when the
// BMC lists none.
func (m rfMedia) target(listed, action string) string {
	if listed != "" {
		return listed
	}
	return m.ID + "/Actions/VirtualMedia." + action
}

// InsertMedia maps image (an http or https URL the BMC fetches) as the host's virtual
// CD, read-only. A medium already inserted is ejected first (BMCs refuse a second).
func (r *redfishBMC) InsertMedia(ctx context.Context, image string) error {
	vm, err := r.virtualCD(ctx)
	if err != nil {
		return err
	}
	if vm.Inserted {
		if err := r.do(ctx, http.MethodPost, vm.target(vm.Actions.Eject.Target, "EjectMedia"), map[string]any{}, nil); err != nil {
			return fmt.Errorf("eject the medium in %s first: %w", vm.ID, err)
		}
	}
	body := map[string]any{"Image": image, "Inserted": true, "WriteProtected": true}
	return r.do(ctx, http.MethodPost, vm.target(vm.Actions.Insert.Target, "InsertMedia"), body, nil)
}

// EjectMedia removes the virtual CD's medium; an empty drive is not an error.
func (r *redfishBMC) EjectMedia(ctx context.Context) error {
	vm, err := r.virtualCD(ctx)
	if err != nil {
		return err
	}
	if !vm.Inserted {
		return nil
	}
	return r.do(ctx, http.MethodPost, vm.target(vm.Actions.Eject.Target, "EjectMedia"), map[string]any{}, nil)
}

// ClearBootOverride switches the boot override off (BootSourceOverrideEnabled
// Disabled): the host boots its own boot order again.
func (r *redfishBMC) ClearBootOverride(ctx context.Context) error {
	s, err := r.system(ctx)
	if err != nil {
		return err
	}
	body := map[string]any{"Boot": map[string]string{"BootSourceOverrideEnabled": "Disabled"}}
	_, err = r.doETag(ctx, http.MethodPatch, s.ID, s.etag, body, nil)
	return err
}
