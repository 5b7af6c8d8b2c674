package nlp

import (
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchNote repeats a realistic note to about n characters.
func benchNote(n int) string {
	const para = "# History of Present Illness\nPatient is a 67 year-old man with HTN, DM2 and COPD who presents with " +
		"shortness of breath and productive cough for 3 days. Denies chest pain, fever or chills. No history of MI. " +
		"Mother had breast cancer.\n\n# Medications\n- metformin 500 mg PO BID\n- lisinopril 10 mg oral tablet once daily\n" +
		"- albuterol 2 puffs inhaled every 4 hours as needed\n\n# Labs\nHbA1c 7.9%. Creatinine of 1.2 mg/dL. BP 148/92 mmHg.\n\n" +
		"# Assessment and Plan\nAcute exacerbation of COPD, cannot rule out pneumonia. Chest x-ray ordered. Return if fever.\n\n"
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(para)
	}
	return b.String()[:n]
}

// BenchmarkAnalyze5KB reports notes per second per core on 5 KB notes (goal >= 200).
func BenchmarkAnalyze5KB(b *testing.B) {
	Load()
	note := benchNote(5000)
	b.SetBytes(int64(len(note)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Analyze(note); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notes/s")
}

// BenchmarkLatency10K reports the p99 latency on a 10,000-character note (goal < 20 ms).
func BenchmarkLatency10K(b *testing.B) {
	Load()
	note := benchNote(10_000)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := Analyze(note); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkLoadLexicons reports the lexicon load time (goal < 1 s) and the heap it keeps (goal
// < 200 MB resident).
func BenchmarkLoadLexicons(b *testing.B) {
	var kept *lexicon
	for i := 0; i < b.N; i++ {
		l, err := loadLexicons()
		if err != nil {
			b.Fatal(err)
		}
		kept = l
	}
	b.StopTimer()
	debug.FreeOSMemory() // collects, and returns what earlier iterations left to the OS
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heap-MB")
	if rss, ok := residentMB(); ok {
		b.ReportMetric(rss, "rss-MB") // the whole test process, lexicons loaded
	}
	runtime.KeepAlive(kept)
}

// residentMB is the process's resident memory (VmRSS, Linux), in MiB.
func residentMB() (float64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}
