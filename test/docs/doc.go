// Package docs runs README's quick start and docs/quickstart.md as written: the commands
// of their fenced `sh` blocks run one by one, as a user types them, in one bash inside a
// network namespace, against the podboot that the quick start builds with `make build`.
// A ToR namespace running ISC dhcrelay and a rack host then check what a PXE ROM sees
// (a relayed DHCP offer with the boot file, the bootloader over TFTP, the iPXE script
// over HTTP), so the pages cannot drift from the code. A block preceded by
// `<!-- docs-test: skip: REASON -->` is not run (the reason is logged).
package docs
