package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/storage"
)

// BenchmarkSubscriptions1000 measures 1,000 concurrent websocket subscribers of one server
// process on the embedded engine: the server's memory per subscriber (Go heap and stacks in use
// after a collection, before and after they subscribe), and, at steady write rates, the delay
// from each commit (its meta.lastUpdated) to each subscriber's receipt of the change, p50 and
// p99 over every delivery, and whether delivery kept up. The subscribers run in a child process
// (this test binary again, TestSubscriberProcess), so that neither their memory nor their
// goroutines count as the server's; each commit is one Observation update.
//
//	go test ./api/ -run '^$' -bench Subscriptions1000 -benchtime 1x
//
// FHIRGATE_BENCH_RATES lists the write rates (per second) to measure, FHIRGATE_BENCH_PHASE how
// many seconds each is measured (5: a percentile over longer phases is steadier); FHIRGATE_BENCH_HEAPPROFILE
// names the heap profiles to write, with every allocation, before the subscribers (.base) and
// with them, and their goroutines (.goroutines).
func BenchmarkSubscriptions1000(b *testing.B) {
	const subscribers = 1000
	rates := []int{25, 50, 100, 200, 400}
	phase := 5 * time.Second
	if n, err := strconv.Atoi(os.Getenv("FHIRGATE_BENCH_PHASE")); err == nil && n > 0 {
		phase = time.Duration(n) * time.Second
	}
	if s := os.Getenv("FHIRGATE_BENCH_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(f)
			rates = append(rates, n)
		}
	}
	if os.Getenv("FHIRGATE_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation: a subscriber's are a few hundred bytes each
	}
	var store *storage.Store
	var hub *notify.Hub
	e := newEnv(b, func(c *api.Config) {
		store = c.Store.(*storage.Store)
		hub = notify.NewHub(store, notify.Options{})
		c.Subscriptions.Changes = hub
		c.Subscriptions.PerPrincipal = 10 * subscribers
	})
	writeOne := func(i int) {
		res, _ := model.Unmarshal(fmt.Appendf(nil, `{"resourceType":"Observation","id":"b%d","status":"final","code":{"text":"bench"},"valueInteger":%d}`, i%50, i))
		if _, err := store.Commit(context.Background(), []storage.Write{{Op: storage.OpPut, Type: "Observation", ID: fmt.Sprintf("b%d", i%50), Resource: res}}); err != nil {
			b.Fatal(err)
		}
	}
	// Warm up before the baseline: the type's collections, the schema and validation tables
	// the first subscription and event load, so that only what subscribers hold is counted.
	warm := dialWS(b, e, "graphql-transport-ws", nil)
	warm.init(nil)
	warm.subscribe("warm", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	writeOne(0)
	warm.changes("warm", 1)
	warm.c.Close(websocket.StatusNormalClosure, "")
	for hub.Live() > 0 {
		time.Sleep(10 * time.Millisecond)
	}

	// The reader of the subscriber process's reports is made before the baseline: its 1 MB
	// buffer is the benchmark's, not the subscribers'.
	replyBuf := make([]byte, 1<<20) // a report holds up to 20,000 latencies
	before := liveMemory()
	if f := os.Getenv("FHIRGATE_BENCH_HEAPPROFILE"); f != "" {
		w, err := os.Create(f + ".base")
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.WriteHeapProfile(w)
		w.Close()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubscriberProcess$")
	cmd.Env = append(os.Environ(), "FHIRGATE_BENCH_SUBSCRIBE="+"ws"+strings.TrimPrefix(e.srv.URL, "http")+"/$graphql", "FHIRGATE_BENCH_N="+strconv.Itoa(subscribers))
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	replies := bufio.NewScanner(out)
	replies.Buffer(replyBuf, 64<<20)
	for deadline := time.Now().Add(2 * time.Minute); hub.Live() < subscribers; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscribers live", hub.Live(), subscribers)
		}
	}
	time.Sleep(time.Second)
	during := liveMemory()
	perSub := float64(during.total()-before.total()) / subscribers
	b.Logf("server memory: heap %d -> %d KB, stacks %d -> %d KB, goroutines %d -> %d: %.1f KB per subscriber",
		before.heap>>10, during.heap>>10, before.stack>>10, during.stack>>10, before.goroutines, during.goroutines, perSub/1024)
	b.ReportMetric(perSub/1024, "KB/subscriber")
	if f := os.Getenv("FHIRGATE_BENCH_HEAPPROFILE"); f != "" {
		w, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.WriteHeapProfile(w)
		w.Close()
		// The goroutines of the server, with their stacks: what each subscriber keeps waiting.
		if w, err = os.Create(f + ".goroutines"); err != nil {
			b.Fatal(err)
		}
		_ = pprof.Lookup("goroutine").WriteTo(w, 2)
		w.Close()
	}

	report := func() (r phaseReport) {
		fmt.Fprintln(in, "report")
		if !replies.Scan() {
			b.Fatal("the subscriber process stopped")
		}
		if err := json.Unmarshal(replies.Bytes(), &r); err != nil {
			b.Fatal(err)
		}
		return r
	}
	report() // nothing yet: start the count afresh
	maxRate := 0
	n := 1
	for _, rate := range rates {
		writes := int(phase.Seconds() * float64(rate))
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		for i := range writes {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			writeOne(n)
			n++
		}
		achieved := float64(writes) / time.Since(start).Seconds()
		want := writes * subscribers
		var r phaseReport
		got := 0
		var lat []float64
		for deadline := time.Now().Add(3 * time.Second); ; {
			r = report()
			got += r.Count
			lat = append(lat, r.Latencies...)
			if got >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		slices.Sort(lat)
		p50, p99 := quantile(lat, 0.50), quantile(lat, 0.99)
		keptUp := got == want && r.Errors == 0 && p99 < 1000
		b.Logf("%4d writes/s (achieved %.0f): %d of %d deliveries, p50 %.1f ms, p99 %.1f ms, max %.1f ms, errors %d, kept up %v",
			rate, achieved, got, want, p50, p99, quantile(lat, 1), r.Errors, keptUp)
		if rate == rates[0] {
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(p99, "p99-ms")
		}
		if !keptUp || achieved < 0.9*float64(rate) {
			break
		}
		maxRate = rate
	}
	b.ReportMetric(float64(maxRate), "max-writes/s")
}

// phaseReport is what the subscriber process received since its last report.
type phaseReport struct {
	Count     int       `json:"count"`
	Errors    int       `json:"errors"`
	Latencies []float64 `json:"latencies"` // ms, a sample of at most 20,000
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

type memory struct {
	heap, stack uint64
	goroutines  int
}

func (m memory) total() uint64 { return m.heap + m.stack }

// liveMemory returns the heap and stacks in use in a steady state: after collections enough
// for idle goroutines' stacks, grown while they worked, to shrink back (each collection halves
// a stack that uses under a quarter of it).
func liveMemory() memory {
	for range 5 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapInuse, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// TestSubscriberProcess is the subscriber process of BenchmarkSubscriptions1000: it opens
// FHIRGATE_BENCH_N graphql-transport-ws connections to FHIRGATE_BENCH_SUBSCRIBE, subscribes each
// to Observation changes, and on each "report" line of stdin writes what arrived since.
func TestSubscriberProcess(t *testing.T) {
	url := os.Getenv("FHIRGATE_BENCH_SUBSCRIBE")
	if url == "" {
		t.Skip("the subscriber process of BenchmarkSubscriptions1000")
	}
	n, _ := strconv.Atoi(os.Getenv("FHIRGATE_BENCH_N"))
	var mu sync.Mutex
	var r phaseReport
	record := func(lat float64, failed bool) {
		mu.Lock()
		defer mu.Unlock()
		if failed {
			r.Errors++
			return
		}
		r.Count++
		if len(r.Latencies) < 20_000 {
			r.Latencies = append(r.Latencies, lat)
		} else if j := rand.IntN(r.Count); j < 20_000 { // a uniform sample (reservoir)
			r.Latencies[j] = lat
		}
	}
	ctx := context.Background()
	for i := range n {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = wsjson.Write(ctx, c, map[string]any{"type": "connection_init"})
		_ = wsjson.Write(ctx, c, map[string]any{"type": "subscribe", "id": strconv.Itoa(i), "payload": map[string]any{
			"query": `subscription { changed(type: Observation) { token lastUpdated resource { ... on Observation { id valueInteger } } } }`}})
		go func() {
			for {
				_, data, err := c.Read(ctx)
				now := time.Now()
				if err != nil {
					return
				}
				// The measuring side reads no more than it needs, so as not to take the
				// server's CPU: the message type and the change's lastUpdated.
				switch {
				case bytes.HasPrefix(data, []byte(`{"type":"ping"`)):
					_ = wsjson.Write(ctx, c, map[string]any{"type": "pong"})
				case bytes.HasPrefix(data, []byte(`{"payload":{"data":{"changed"`)) && !bytes.Contains(data, []byte(`"errors"`)):
					i := bytes.Index(data, []byte(`"lastUpdated":"`))
					if i < 0 {
						record(0, true)
						continue
					}
					rest := data[i+len(`"lastUpdated":"`):]
					lu, err := time.Parse(time.RFC3339Nano, string(rest[:bytes.IndexByte(rest, '"')]))
					record(float64(now.Sub(lu).Microseconds())/1000, err != nil)
				case bytes.Contains(data, []byte(`"type":"error"`)), bytes.Contains(data, []byte(`"type":"complete"`)), bytes.Contains(data, []byte(`"errors"`)):
					record(0, true)
				}
			}
		}()
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		mu.Lock()
		b, _ := json.Marshal(r)
		r = phaseReport{}
		mu.Unlock()
		os.Stdout.Write(append(b, '\n'))
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}
