package ingest

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress shows an import's progress on w until ctx ends: a progress bar on a terminal
// (bytes done, rate and ETA, resources per type and per second beside it), or a plain line
// every interval otherwise. Lines and entries that failed are printed above the bar through
// Print. Call Done once the import returns, for the final figures.
type Progress struct {
	im       *Importer
	w        io.Writer
	bar      *progressbar.ProgressBar
	interval time.Duration
	mu       sync.Mutex
	stop     chan struct{}
	stopped  chan struct{}
}

// ShowProgress starts showing im's progress on w: a bar when tty is set, else a line every
// interval.
func ShowProgress(im *Importer, w io.Writer, tty bool, interval time.Duration) *Progress {
	p := &Progress{im: im, w: w, interval: interval, stop: make(chan struct{}), stopped: make(chan struct{})}
	if tty {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionFullWidth(),
		)
		p.interval = 250 * time.Millisecond
	}
	go p.loop()
	return p
}

func (p *Progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.show()
		}
	}
}

func (p *Progress) show() {
	s := p.im.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		if p.bar.GetMax64() != s.TotalBytes && s.TotalBytes > 0 {
			p.bar.ChangeMax64(s.TotalBytes)
		}
		p.bar.Describe(summary(s, true))
		_ = p.bar.Set64(s.BytesDone)
		return
	}
	fmt.Fprintln(p.w, "import:", summary(s, false))
}

// Print prints a line above the bar.
func (p *Progress) Print(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintln(p.w, line)
}

// Done stops the display and prints the final figures.
func (p *Progress) Done() {
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
	fmt.Fprintln(p.w, "import:", summary(p.im.Stats(), false))
}

// summary describes s in one line: files, bytes, resources written per type, the rate and,
// for plain lines, the time left.
func summary(s Stats, short bool) string {
	elapsed := time.Since(s.Started)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Written+s.Unchanged) / elapsed.Seconds()
	}
	var b strings.Builder
	if !short {
		fmt.Fprintf(&b, "%d/%d files, %s of %s", s.FilesDone, s.Files, size(s.BytesDone), size(s.TotalBytes))
		if s.TotalBytes > 0 {
			fmt.Fprintf(&b, " (%.0f%%)", 100*float64(s.BytesDone)/float64(s.TotalBytes))
		}
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "%d written", s.Written)
	if types := byType(s.ByType); types != "" {
		fmt.Fprintf(&b, " (%s)", types)
	}
	fmt.Fprintf(&b, ", %d unchanged, %d failed, %.0f resources/s", s.Unchanged, s.Failed, rate)
	if !short && s.BytesDone > 0 && s.BytesDone < s.TotalBytes {
		left := time.Duration(float64(elapsed) * float64(s.TotalBytes-s.BytesDone) / float64(s.BytesDone))
		fmt.Fprintf(&b, ", about %s left", left.Round(time.Second))
	}
	if !short && s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d files already imported", s.Skipped)
	}
	return b.String()
}

// byType lists counts by type, largest first.
func byType(m map[string]int64) string {
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%s %d", t, m[t])
	}
	return strings.Join(parts, ", ")
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
