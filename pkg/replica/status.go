package replica

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Health of a member as `replica list` shows it.
const (
	HealthLive    = "live"
	HealthSuspect = "suspect" // its record vanished; confirming before its pods move
)

// MemberStatus is one replica in `replica list`.
type MemberStatus struct {
	Member
	Self   bool     `json:"self"`
	Health string   `json:"health"`
	Pods   []string `json:"pods"`
}

// Status is the answer of GET /api/v1/replicas, as the answering replica sees it.
type Status struct {
	// Replica is the replica that answered.
	Replica string         `json:"replica"`
	Members []MemberStatus `json:"members"`
	// Unowned are pods no live replica holds right now (moving, or no replica left).
	Unowned []string `json:"unowned"`
}

// Status reads the member records and owner keys at one revision. pods lists every pod.
func (m *Membership) Status(ctx context.Context, pods []string) (Status, error) {
	rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), m.cfg.TTL)
	defer cancel()
	resp, err := m.cli.Txn(rctx).Then(clientv3.OpGet(m.memberKey(""), clientv3.WithPrefix()),
		clientv3.OpGet(OwnerKey(m.prefix, ""), clientv3.WithPrefix())).Commit()
	if err != nil {
		return Status{}, fmt.Errorf("read replica members and pod owners: %w", err)
	}
	st := Status{Replica: m.cfg.Name}
	byName := map[string]*MemberStatus{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		mb, err := decodeMember(kv.Value)
		if err != nil {
			continue
		}
		st.Members = append(st.Members, MemberStatus{Member: mb, Self: mb.Name == m.cfg.Name, Health: HealthLive, Pods: []string{}})
	}
	for _, mb := range m.Members() { // suspects: vanished, not confirmed gone yet
		if m.Suspect(mb.Name) {
			st.Members = append(st.Members, MemberStatus{Member: mb, Health: HealthSuspect, Pods: []string{}})
		}
	}
	for i := range st.Members {
		byName[st.Members[i].Name] = &st.Members[i]
	}
	owned := map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		o, err := decodeOwner(kv.Value)
		pod := strings.TrimPrefix(string(kv.Key), OwnerKey(m.prefix, ""))
		if mb, ok := byName[o.Replica]; err == nil && ok {
			mb.Pods = append(mb.Pods, pod)
			owned[pod] = true
		}
	}
	for _, p := range pods {
		if !owned[p] {
			st.Unowned = append(st.Unowned, p)
		}
	}
	slices.SortFunc(st.Members, func(a, b MemberStatus) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// Routes are the replica API routes.
func Routes(m *Membership, reg *podmgr.Registry) []api.Route {
	return []api.Route{{Method: "GET", Path: "/api/v1/replicas", Allow: api.Readers(), Handler: func(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
		st, err := m.Status(r.Context(), reg.PodNames())
		if err != nil {
			api.WriteError(w, http.StatusServiceUnavailable, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, st)
	}}}
}
