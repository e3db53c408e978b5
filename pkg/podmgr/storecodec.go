package podmgr

// What another Store implementation (pkg/etcdstore) needs to store records exactly as
// the bbolt store does: the same encodings and the same canonical match-rule keys.

// EncodeRecord is the stored form of every record but hosts: a version byte, then JSON.
func EncodeRecord(v any) ([]byte, error) { return encode(v) }

// DecodeRecord reads what EncodeRecord wrote.
func DecodeRecord(b []byte, v any) error { return decode(b, v) }

// EncodeHost is the stored form of a host (the compact codec of hostcodec.go).
func EncodeHost(h Host) []byte { return encodeHost(h) }

// DecodeHost reads what EncodeHost wrote (and the older JSON form).
func DecodeHost(b []byte, h *Host) error { return decodeHost(b, h) }

// PodMatchKeys validates p and returns it as the store keeps it, with the canonical
// keys of its match rules: two pods whose rules share a key cannot be told apart.
func PodMatchKeys(p Pod) (Pod, []string, error) {
	pc, err := validatePod(&p)
	if err != nil {
		return Pod{}, nil, err
	}
	keys := make([]string, len(pc.rules))
	for i, k := range pc.rules {
		keys[i] = k.String()
	}
	return pc.Pod, keys, nil
}
