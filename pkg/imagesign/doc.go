// Package imagesign holds podboot's public-key infrastructure and its detached
// CMS image signatures.
//
// Why it exists: podboot's headline promise is that a host only ever boots and
// installs images that an operator signed. The same signature has to be
// accepted by three verifiers that share no code: podboot itself (on push),
// the agent on the host (with the root CA pinned in its initrd), and iPXE's
// imgverify (for stage1 over plain HTTP), and it must stay checkable with
// `openssl cms -verify -binary`. The lowest common denominator of those is a
// detached CMS SignedData, SHA-256, one signer identified by issuer and serial
// number, RSA (or ECDSA P-256), intermediates embedded, and no signed
// attributes. This package produces and checks exactly that shape.
//
// Images are gigabytes, so signing and verification stream the content through
// SHA-256 and never hold it in memory: without signed attributes the signature
// is over the content digest itself, so only the digest and the small
// signature blob are needed. Trust is evaluated at the verifier's clock, never
// at a signer-chosen signing time, and every refusal carries a [Reason].
//
// The package also runs the small certificate authority podboot needs: its own
// HTTPS certificate and the code-signing certificates handed to operators and
// CI. Private keys are written atomically with mode 0600.
//
// All uses of go.mozilla.org/pkcs7 stay inside this package (tests only, as an
// independent interoperability check) so that the archived library can be
// swapped for a fork with one import change.
package imagesign
