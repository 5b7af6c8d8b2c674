package notify

import (
	"fmt"
	"strconv"
	"strings"
)

// Token is a position in the change feed: just after write Entry of the commit with sequence
// number Seq, or after the whole commit when Entry is -1.
//
// Its text (String, ParseToken) is the sequence number, "41", for the last event a
// subscription receives from a commit, which is nearly always its only one; an earlier event
// of a commit that wrote several matching resources (a transaction) has "41.0", "41.3", ...
// naming the write, so that resuming after it neither repeats nor skips the commit's other
// writes.
type Token struct {
	Seq   int64
	Entry int
}

// after returns the token just after the whole commit seq.
func after(seq int64) Token { return Token{Seq: seq, Entry: -1} }

// String returns the token's text.
func (t Token) String() string {
	if t.Entry < 0 {
		return strconv.FormatInt(t.Seq, 10)
	}
	return strconv.FormatInt(t.Seq, 10) + "." + strconv.Itoa(t.Entry)
}

// done returns the last commit the token has passed whole: Seq, or Seq-1 inside a commit.
func (t Token) done() int64 {
	if t.Entry < 0 {
		return t.Seq
	}
	return t.Seq - 1
}

// covers reports whether the position t has already passed write idx of commit seq.
func (t Token) covers(seq int64, idx int) bool {
	return seq < t.Seq || seq == t.Seq && (t.Entry < 0 || idx <= t.Entry)
}

// ParseToken reads a token's text. Anything but a sequence number, optionally followed by a
// dot and a write index, is an ErrInvalid error.
func ParseToken(s string) (Token, error) {
	seqText, entryText, inCommit := strings.Cut(s, ".")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 0 || seqText != strconv.FormatInt(seq, 10) {
		return Token{}, fmt.Errorf("%w: resume token %q is not one this server issued", ErrInvalid, clip(s))
	}
	t := after(seq)
	if inCommit {
		n, err := strconv.Atoi(entryText)
		if err != nil || n < 0 || entryText != strconv.Itoa(n) || seq == 0 {
			return Token{}, fmt.Errorf("%w: resume token %q is not one this server issued", ErrInvalid, clip(s))
		}
		t.Entry = n
	}
	return t, nil
}

// clip shortens client text quoted back in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
