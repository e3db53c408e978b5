package podmgr

// HostFits returns a check that a host's reservation and addresses fit pod p (the
// host's own fields are checked too). It is how a change is checked against the store
// inside its transaction when another replica may have committed at the same moment: a
// new host against the stored pod (checkNewHosts), and on etcd a pod change against the
// addresses its hosts reserved (the store's own check, as it checks match rules).
// checkHostsFit is the same check against memory.
func HostFits(p Pod) (func(Host) error, error) {
	pc, err := validatePod(&p)
	if err != nil {
		return nil, err
	}
	return func(h Host) error { return validateHost(&h, pc) }, nil
}
