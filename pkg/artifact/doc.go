// Package artifact is podboot's content-addressed artifact store: bootloaders, stage1
// kernels and initrds, signed stage2 images and bash packages, kept once however many
// pods, profiles and versions use the same bytes.
//
// Why content addressing: a fleet of pods boots the same few files; storing them by
// SHA-256 deduplicates them, gives the HTTP ETag and the chain-load checksum for free,
// and makes every blob immutable, so a file can be served while it is being replaced or
// deleted (the open descriptor keeps the old bytes).
//
// Layout under the store directory (DATA_DIR/artifacts):
//
//	blobs/sha256/ab/abcdef…      the bytes, named by their SHA-256 (hex), mode 0444
//	meta/NAME@VERSION.json       one JSON record per artifact (Artifact)
//	tmp/                          ingest in progress; emptied at Open
//
// The metadata is one small JSON file per artifact rather than a bbolt bucket: the main
// bbolt file is held open (and locked) by podmgr's store, and JSON files written by
// write-temp, fsync, rename, fsync-directory are just as atomic, need no lock shared with
// another package, and survive a crash in a state that Open can read. A detached
// signature is itself a blob; the record names its digest.
//
// Ingest is the one way in, shared by `podboot image add` (admin, unsigned stage1 files)
// and the CI push (signed stage2 images):
//
//	a, err := store.Ingest(ctx, artifact.Meta{Name: "vmlinuz", Version: "6.1", Kind: artifact.KindKernel}, body,
//		func(ctx context.Context, digest [32]byte, content *os.File) error { … })
//
// It streams the body to a temporary file while hashing it, fsyncs it, and only then calls
// the optional verify callback with the digest and the temporary file (rewound to the
// start; the callback may read it again, e.g. to check a CMS signature by streaming).
// Only when the callback approves is the blob renamed into place and the record written;
// on any error nothing is left behind. Nothing half-stored is ever visible.
//
// One Store per directory per process: Open clears tmp/ and collects orphan blobs, which
// would break another Store ingesting in the same directory. podboot serve holds the data
// dir's lock (the bbolt file), so only it opens the store.
//
// Reads on the boot hot path (Lookup, Open) use the in-memory index and open blobs
// through an os.Root, so a symlink planted in the store cannot lead outside it.
package artifact
