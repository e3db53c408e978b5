package imagepush

import (
	"context"
	"log/slog"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// ManagerAudit appends push events to the manager's audit log, like every other change.
// A failed audit write is logged; the image is already stored.
func ManagerAudit(mgr *podmgr.Manager, log *slog.Logger) AuditFunc {
	return func(ctx context.Context, a podmgr.Actor, action, detail string) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := mgr.Store().Update(ctx, func(tx podmgr.Tx) error {
			_, err := tx.AppendEvent(podmgr.Event{Time: time.Now().UTC(), Kind: podmgr.KindAudit, Actor: a.Name, Source: a.Source, Action: action, Detail: detail})
			return err
		})
		if err != nil {
			log.Error("audit image push", "action", action, "detail", detail, "err", err)
		}
	}
}
