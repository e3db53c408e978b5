package cred

import (
	"context"
	"fmt"
	"os"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Rotate re-seals every BMC password of st (hosts' and pods' defaults) with a new key and makes it the key at path.
// The new key is written to PATH.next first; one store transaction re-seals every
// record; then PATH.next replaces PATH. Interrupted anywhere, the keyring Load builds
// still opens every record (it reads PATH.next too), and running Rotate again finishes.
// It returns how many records were re-sealed.
func Rotate(ctx context.Context, st podmgr.Store, path string) (int, error) {
	old, err := Load(path, false)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(path + ".next"); err != nil {
		if _, err := NewKeyFile(path + ".next"); err != nil {
			return 0, err
		}
	}
	raw, err := readKey(path + ".next")
	if err != nil {
		return 0, err
	}
	nk, err := newKey(raw)
	if err != nil {
		return 0, err
	}
	next := &Keyring{cur: nk}
	n := 0
	err = st.Update(ctx, func(tx podmgr.Tx) error {
		n = 0
		var all []podmgr.BMC
		if err := tx.EachBMC(func(b podmgr.BMC) error { all = append(all, b); return nil }); err != nil {
			return err
		}
		for _, b := range all {
			if len(b.Password) == 0 || next.SealedWithCurrent(b.Password) { // none: the pod's
				continue
			}
			pw, err := old.Open(b.MAC, b.Password)
			if err != nil {
				return err
			}
			if b.Password, err = next.Seal(b.MAC, pw); err != nil {
				return err
			}
			if err := tx.PutBMC(b); err != nil {
				return err
			}
			n++
		}
		var pods []podmgr.PodBMC
		if err := tx.EachPodBMC(func(b podmgr.PodBMC) error { pods = append(pods, b); return nil }); err != nil {
			return err
		}
		for _, b := range pods {
			if len(b.Password) == 0 || next.SealedWithCurrent(b.Password) {
				continue
			}
			ad := podmgr.PodBMCSealKey(b.Pod)
			pw, err := old.Open(ad, b.Password)
			if err != nil {
				return err
			}
			if b.Password, err = next.Seal(ad, pw); err != nil {
				return err
			}
			if err := tx.PutPodBMC(b); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("re-seal bmc passwords: %w (the old key still works)", err)
	}
	if err := os.Rename(path+".next", path); err != nil {
		return n, fmt.Errorf("install new bmc key: %w", err)
	}
	return n, nil
}
