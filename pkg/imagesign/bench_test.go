package imagesign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
)

// BenchmarkVerify and BenchmarkSHA256 compare streaming verification with
// bare SHA-256 over the same 64 MiB buffer (go test -bench . -benchtime 20x).
func BenchmarkVerify(b *testing.B) {
	root := mkRoot(b, "bench root")
	signer := mkSigner(b, "bench signer", root, testRSAKeys[0])
	data := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c, 0xc3}, 16<<20)
	sig, err := Sign(context.Background(), bytes.NewReader(data), signer.cert, signer.key, nil)
	if err != nil {
		b.Fatal(err)
	}
	roots := poolOf(root)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Verify(context.Background(), sig, bytes.NewReader(data), roots, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSHA256(b *testing.B) {
	data := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c, 0xc3}, 16<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256.Sum256(data)
	}
}
