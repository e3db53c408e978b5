// Package imagepush is the CI push of signed images: `podboot image push` on the
// client, PUT /api/v1/images/{name}/{version} on the server.
//
// Why it is its own package: the push is the one place where untrusted bytes from the
// network become something hosts will boot, so the order of checks is the security
// property and deserves one small, reviewable home. The server refuses everything it
// can from the request headers alone, before it reads a byte of the body: the token's
// role (api.Mount), the name, version and kind, what the token was granted (a ci token
// pushes only its kinds and name prefixes: podmgr.Actor.MayPush; 403), a kind other than
// the name already has (409: a bare-name reference must never start serving another
// kind), the declared length against the upload
// limit, and the detached CMS signature — parsed and its signer's chain checked against
// the configured root CA at the server's clock (imagesign.NewVerifier). The client asks
// for `Expect: 100-continue`, so a refused multi-gigabyte push is not even sent.
//
// Only then is the body streamed, once, through two consumers: the artifact store's
// ingest (a temporary file, hashed and fsynced) and the signature verifier (hashed as it
// passes). The store commits the blob and its record only when the verifier's Finish
// accepts the digest; every failure — refused signature, conflicting version, upload too
// large, client gone, disk full — leaves no temporary file and no record, and answers
// JSON with the reason and a precise 4xx/5xx status.
//
// Versions are immutable: pushing the same bytes to an existing NAME@VERSION is a no-op
// (200), other bytes are refused (409). A client that declares the SHA-256 of its file
// learns either answer before uploading anything.
package imagepush
