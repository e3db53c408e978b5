package testutil

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Stage2Image makes a disk image as a CI pipeline builds an OS image: an MBR partition
// table with one Linux partition at 1 MiB holding an ext4 root file system of fsMiB
// made from files (path -> content, mkfs.ext4 -d; a path ending in "/" is an empty
// directory of mode 0700, like root/). Large images get their size from a
// file of random bytes in files, so that nothing on the way compresses them.
func Stage2Image(t testing.TB, dir, name string, fsMiB int, files map[string][]byte) string {
	t.Helper()
	root := filepath.Join(dir, name+"-root")
	for f, body := range files {
		p := filepath.Join(root, f)
		if strings.HasSuffix(f, "/") {
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o700); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := filepath.Join(dir, name+"-rootfs.img")
	Run(t, dir, "mkfs.ext4", "-q", "-F", "-L", "root", "-E", "root_owner=0:0", "-d", root, fs, strconv.Itoa(fsMiB)+"M")
	img := filepath.Join(dir, name+".img")
	Run(t, dir, "truncate", "-s", strconv.Itoa(fsMiB+2)+"M", img)
	writeMBR(t, img, 2048, uint32(fsMiB)*2048)
	Run(t, dir, "dd", "if="+fs, "of="+img, "bs=1M", "seek=1", "conv=notrunc", "status=none")
	return img
}

// writeMBR writes a DOS partition table with one Linux partition (type 0x83) of
// sectors sectors at start (in 512-byte sectors).
func writeMBR(t testing.TB, img string, start, sectors uint32) {
	t.Helper()
	mbr := make([]byte, 512)
	e := mbr[446:462]
	e[4] = 0x83
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], sectors)
	copy(e[1:4], []byte{0xfe, 0xff, 0xff}) // CHS: use LBA
	copy(e[5:8], []byte{0xfe, 0xff, 0xff})
	binary.LittleEndian.PutUint32(mbr[440:], 0x0e2e0e2e) // disk signature
	mbr[510], mbr[511] = 0x55, 0xaa
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
}
