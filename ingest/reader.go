package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// errBomb reports a .gz file that grows past the ratio allowed.
var errBomb = errors.New("gzip bomb")

// bombFloor is the decompressed size below which the ratio is not checked: small files of
// repetitive JSON compress very well.
const bombFloor = 16 << 20

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ratioGuard fails a decompressed stream that grows past ratio times the compressed bytes
// read so far.
type ratioGuard struct {
	r          io.Reader
	compressed *countingReader
	ratio, n   int64
}

func (g *ratioGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.n += int64(n)
	if g.n > bombFloor && g.n > g.ratio*max(g.compressed.n, 1) {
		return n, fmt.Errorf("%w: more than %d bytes decompressed from %d, over the ratio of %d allowed", errBomb, g.n, g.compressed.n, g.ratio)
	}
	return n, err
}

// lineReader reads NDJSON lines, counting them and the bytes consumed, and cutting lines
// longer than max short without holding them.
type lineReader struct {
	br   *bufio.Reader
	max  int64
	line int64 // lines read so far
	off  int64 // bytes consumed so far (decompressed)
	buf  []byte
	// pos reports how far into the file (compressed bytes for .gz) reading got.
	pos func() int64
	c   io.Closer
}

// openLines opens f for reading from decompressed byte offset off, which line starts line+1.
func openLines(f *file, off, line, maxLine, ratio int64) (*lineReader, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	cr := &countingReader{r: fh}
	var r io.Reader = cr
	if f.gz {
		zr, err := gzip.NewReader(bufio.NewReaderSize(cr, 256<<10))
		if err != nil {
			fh.Close()
			return nil, fmt.Errorf("ingest: %s: %w", f.path, err)
		}
		r = &ratioGuard{r: zr, compressed: cr, ratio: ratio}
	} else if off > 0 {
		if _, err := fh.Seek(off, io.SeekStart); err != nil {
			fh.Close()
			return nil, fmt.Errorf("ingest: %s: %w", f.path, err)
		}
		cr.n = off
	}
	lr := &lineReader{br: bufio.NewReaderSize(r, 1<<20), max: maxLine, pos: func() int64 { return cr.n }, c: fh}
	if f.gz && off > 0 {
		// A gzip stream cannot seek: decompress up to where the last run stopped.
		if _, err := io.CopyN(io.Discard, lr.br, off); err != nil {
			fh.Close()
			return nil, fmt.Errorf("ingest: %s: resume at byte %d: %w", f.path, off, err)
		}
	}
	lr.off, lr.line = off, line
	return lr, nil
}

func (lr *lineReader) Close() error { return lr.c.Close() }

// next returns the next non-blank line (valid until the next call) and its number; tooLong
// is set, with no data, for a line longer than the maximum. It returns io.EOF at the end.
func (lr *lineReader) next() (data []byte, no int64, tooLong bool, err error) {
	for {
		lr.buf = lr.buf[:0]
		tooLong = false
		for {
			chunk, err := lr.br.ReadSlice('\n')
			lr.off += int64(len(chunk))
			if !tooLong {
				if int64(len(lr.buf)+len(chunk)) > lr.max+1 { // +1: the newline
					tooLong, lr.buf = true, lr.buf[:0]
				} else {
					lr.buf = append(lr.buf, chunk...)
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, 0, false, err
			}
			if len(chunk) == 0 && len(lr.buf) == 0 && !tooLong && errors.Is(err, io.EOF) {
				return nil, 0, false, io.EOF
			}
			break
		}
		lr.line++
		if tooLong {
			return nil, lr.line, true, nil
		}
		if line := bytes.TrimSpace(lr.buf); len(line) > 0 {
			return line, lr.line, false, nil
		}
	}
}
