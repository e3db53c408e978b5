package imagepush

import (
	"fmt"
	"io"
	"time"
)

// progressInterval is how often the progress line is redrawn.
const progressInterval = 200 * time.Millisecond

// Progress wraps a reader and redraws one terminal line ("\r") with the bytes read,
// the percentage and the rate. The CLI uses it only when stderr is a terminal.
type Progress struct {
	r     io.Reader
	w     io.Writer
	label string
	total int64
	n     int64
	start time.Time
	last  time.Time
	now   func() time.Time
}

// NewProgress reports reads from r of a total-byte content to w.
func NewProgress(r io.Reader, w io.Writer, label string, total int64) *Progress {
	t := time.Now()
	return &Progress{r: r, w: w, label: label, total: total, start: t, now: time.Now}
}

func (p *Progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if t := p.now(); t.Sub(p.last) >= progressInterval || err == io.EOF {
		p.last = t
		p.draw(t)
	}
	return n, err
}

// Done ends the progress line.
func (p *Progress) Done() {
	p.draw(p.now())
	fmt.Fprintln(p.w)
}

func (p *Progress) draw(t time.Time) {
	pct := 100.0
	if p.total > 0 {
		pct = float64(p.n) * 100 / float64(p.total)
	}
	rate := 0.0
	if s := t.Sub(p.start).Seconds(); s > 0 {
		rate = float64(p.n) / (1 << 20) / s
	}
	const width = 30
	fill := int(pct / 100 * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < fill {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %5.1f%% %s / %s  %.0f MiB/s ", p.label, bar, pct, human(p.n), human(p.total), rate)
}

// human formats a byte count in binary units.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
