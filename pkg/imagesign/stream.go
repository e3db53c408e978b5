package imagesign

import (
	"context"
	"fmt"
	"io"
)

// streamBufSize is the read size when hashing content: large enough to keep
// syscall overhead far below the cost of SHA-256, small enough to stay in
// cache.
const streamBufSize = 256 << 10

// copyWithContext copies src to dst in fixed-size chunks, checking ctx
// between chunks, so memory stays constant whatever the content size.
func copyWithContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, streamBufSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("reading content: %w", err)
		}
		r, rerr := src.Read(buf)
		if r > 0 {
			w, werr := dst.Write(buf[:r])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("reading content: %w", rerr)
		}
	}
}
