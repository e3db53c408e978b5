// Package stage1 builds podboot's stage1 initrd: a gzip'd newc cpio with the static
// podboot-agent as /init, the root CA the agent pins, and the kernel modules it needs
// to reach the network and the disk.
//
// Why a builder of our own rather than dracut or initramfs-tools: the initrd is part of
// the trust chain (it carries the root CA that decides which stage2 images a host
// accepts), so operators must be able to rebuild it and get the same bytes, compare it
// with what podboot serves, and review everything in it. The archive is therefore
// minimal and reproducible: sorted entries, fixed inodes, mtime 0, owner root, a gzip
// header without name or time.
package stage1
