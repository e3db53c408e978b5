// Package blobsync keeps the artifact store of every podboot replica on one etcd in
// step: the catalog (which name@version exists, its digests, kind and signer) lives in
// etcd, and the content-addressed blobs are copied between replicas by digest.
//
// Why: each replica has its own data dir, so without this an image pushed through one
// replica exists only there, and losing that machine loses the image and fails every
// boot that needs it. With it, a push returns only once the blobs are on several
// replicas, and any replica can serve any image.
//
// Keys under the store's prefix P (keys.go):
//
//	P artifacts/NAME@VERSION          the record (JSON), state "pending" or "ready"
//	P artifact-holders/DIGEST/ID      replica ID has the blob on disk
//	P artifact-replicas/ID            a replica: its API URL and the CA of its certificate
//
// Publishing (an ingest on this replica): the record is created "pending" with this
// replica as holder, in one transaction that fails if the version exists. Every replica
// watches the records and pulls the blobs of new ones from a holder, over the holder's
// management API (GET /api/v1/replica/blobs/DIGEST with the puller's replica-role token,
// the TLS certificate checked against the CA the holder published), verifying the
// SHA-256 while streaming and renaming into place atomically (artifact.Store.PutBlob),
// then adds itself as holder. When enough replicas hold the blobs the publisher flips
// the record to "ready" (compare on its revision); only ready records are served. If
// they do not in time, the publisher deletes the pending record and the push fails:
// nothing half-stored stays visible, and the copies already made are collected.
//
// Serving a blob this replica lacks (a ready record whose pull has not finished) pulls
// it on demand (artifact.Hooks.Fetch) before the boot or download is answered.
//
// Deleting: the record goes first (compare on its revision), so no replica starts a new
// download; each replica then drops its own record and unlinks blobs that no record
// (ready or pending, on any replica) uses, and removes its holder keys. Files are
// unlinked, never truncated, so a download in progress on any replica (a boot, an
// agent, a peer's pull) finishes from its open descriptor.
package blobsync
