package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/producer"
	"github.com/coupa-kafka/coupa-kafka/schemas"
)

// childEnv marks a process started by the benchmark to run the producer
// under measurement (the bench binary or its test binary re-executed).
const childEnv = "COUPA_BENCH_CHILD"

// childSpec is sent to the child on stdin.
type childSpec struct {
	InstanceURL  string
	CACertPEM    string
	ClientID     string
	ClientSecret string
	Brokers      []string
	RegistryURL  string
	Tables       []string
	RateLimit    float64
	Burst        int
	LineTopics   bool
	CPUProfile   string // optional: write a CPU profile of the sync here
	HeapProfile  string // optional: write a heap profile at the end of the sync
	Timeout      time.Duration
}

// childResult is the child's last line on stdout.
type childResult struct {
	Event      string
	Err        string        `json:",omitempty"`
	Wall       time.Duration // Sync only
	NewWall    time.Duration // producer.New (topics, schemas, fencing, restore)
	UserCPU    time.Duration // during Sync
	SysCPU     time.Duration // during Sync
	Published  int
	PerTable   map[string]int   // published per table
	Walk       map[string]int   // list calls per table, as the walks counted them
	Requests   int64            // coupa.Client.Stats().Total()
	Throttled  int64            // 429s the client saw
	ByStatus   map[string]int64 // status -> count over all tables
	VmHWMKB    int64            // /proc/self/status peak RSS, whole process life
	VmRSSKB    int64            // RSS at the end
	MaxrssKB   int64            // getrusage ru_maxrss
	PeakHeapMB float64          // sampled peak of live+unswept heap objects
	PeakGoMB   float64          // sampled peak of all memory the Go runtime mapped
	GCs        uint32
	Extra      map[string]string `json:",omitempty"`
}

// childMain runs in the child: it builds the producer exactly as
// cmd/coupa-kafka does (DefaultHTTPClient with SSL_CERT_FILE, metrics observer,
// kprom hooks, default batch and lookback), announces the start of Sync on
// stdout, syncs once and prints the result.
func childMain() int {
	out := json.NewEncoder(os.Stdout)
	res, err := runChild(os.Stdin, func() { out.Encode(childResult{Event: "start"}) })
	res.Event = "result"
	if err != nil {
		res.Err = err.Error()
	}
	out.Encode(res)
	if err != nil {
		return 1
	}
	return 0
}

func runChild(in io.Reader, started func()) (childResult, error) {
	var res childResult
	var spec childSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return res, fmt.Errorf("reading spec: %w", err)
	}
	if spec.Timeout <= 0 {
		spec.Timeout = time.Hour
	}
	ctx, cancel := context.WithTimeout(context.Background(), spec.Timeout)
	defer cancel()

	// The simulator's CA, handed over as production does: SSL_CERT_FILE.
	dir, err := os.MkdirTemp("", "coupa-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte(spec.CACertPEM), 0o600); err != nil {
		return res, err
	}
	os.Setenv("SSL_CERT_FILE", ca)
	hc, err := coupa.DefaultHTTPClient()
	if err != nil {
		return res, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	metricsReg := producer.NewMetrics()
	client, err := coupa.New(coupa.Config{
		InstanceURL: spec.InstanceURL, ClientID: spec.ClientID, ClientSecret: spec.ClientSecret,
		RateLimit: spec.RateLimit, Burst: spec.Burst, HTTPClient: hc, Logger: log, Observer: metricsReg,
	})
	if err != nil {
		return res, err
	}
	rc, err := sr.NewClient(sr.URLs(spec.RegistryURL))
	if err != nil {
		return res, err
	}
	var tables []coupa.Table
	for _, n := range spec.Tables {
		t, err := coupa.LookupTable(n)
		if err != nil {
			return res, err
		}
		tables = append(tables, t)
	}
	t0 := time.Now()
	prod, err := producer.New(ctx, producer.Config{
		Coupa: client, Instance: client.Instance(), Registry: schemas.NewRegistry(rc),
		Kafka: []kgo.Opt{kgo.SeedBrokers(spec.Brokers...)}, Tables: tables,
		TopicPrefix: "coupa.", OffsetsTopic: "coupa-offsets", LineTopics: spec.LineTopics,
		Topics:   producer.TopicSettings{Partitions: -1, ReplicationFactor: -1},
		Lookback: 5 * time.Minute, Logger: log, Metrics: metricsReg,
		// As the CLI: daily sweeps (the first one a day after the first
		// commit, so none runs here; the index they need is kept).
		DeleteSweep: producer.DeleteSweep{Interval: producer.DefaultDeleteSweepInterval, Coupa: client.Idle()},
		ProducerOpts: func(table string) []kgo.Opt {
			m := kprom.NewMetrics("coupa_kafka_client", kprom.Registerer(metricsReg.Registry), kprom.Gatherer(metricsReg.Registry), kprom.WithClientLabel())
			return []kgo.Opt{kgo.ClientID("coupa-kafka-" + table), kgo.WithHooks(m)}
		},
	})
	if err != nil {
		return res, err
	}
	defer prod.Close()
	res.NewWall = time.Since(t0)

	var stopSampler atomic.Bool
	sampled := make(chan [2]uint64, 1)
	go sampleMemory(&stopSampler, sampled)

	if spec.CPUProfile != "" {
		f, err := os.Create(spec.CPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	started()
	u0, s0 := rusage()
	start := time.Now()
	results, syncErr := prod.Sync(ctx)
	res.Wall = time.Since(start)
	u1, s1 := rusage()
	if spec.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	res.UserCPU, res.SysCPU = u1-u0, s1-s0
	stopSampler.Store(true)
	peaks := <-sampled
	res.PeakHeapMB, res.PeakGoMB = float64(peaks[0])/(1<<20), float64(peaks[1])/(1<<20)
	if spec.HeapProfile != "" {
		if f, err := os.Create(spec.HeapProfile); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}

	res.PerTable, res.Walk = map[string]int{}, map[string]int{}
	for _, r := range results {
		res.Published += r.Published
		res.PerTable[r.Table] = r.Published
		res.Walk[r.Table] = r.Requests
	}
	st := client.Stats()
	res.Requests, res.Throttled = st.Total(), st.Throttled
	res.ByStatus = map[string]int64{}
	for _, m := range st.Requests {
		for code, n := range m {
			res.ByStatus[strconv.Itoa(code)] += n
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.GCs = ms.NumGC
	res.VmHWMKB, res.VmRSSKB = procStatus("VmHWM"), procStatus("VmRSS")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.MaxrssKB = ru.Maxrss
	}
	return res, syncErr
}

// sampleMemory records the peak of the heap's object bytes and of all memory
// the Go runtime mapped, every 20 ms (runtime/metrics does not stop the world).
func sampleMemory(stop *atomic.Bool, out chan<- [2]uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	var peak [2]uint64
	for !stop.Load() {
		metrics.Read(s)
		peak[0] = max(peak[0], s[0].Value.Uint64())
		peak[1] = max(peak[1], s[1].Value.Uint64())
		time.Sleep(20 * time.Millisecond)
	}
	out <- peak
}

// rusage returns this process's user and system CPU time so far.
func rusage() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// procStatus reads a kB field of /proc/self/status (0 where unavailable).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// runProducer starts the producer in a fresh child process against w and
// waits for its result. onStart runs when the child begins its Sync (after
// producer.New), so the caller can measure the world's side of the sync.
func runProducer(ctx context.Context, spec childSpec, onStart, onEnd func()) (childResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return childResult{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return childResult{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return childResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return childResult{}, err
	}
	json.NewEncoder(stdin).Encode(spec)
	stdin.Close()
	var res childResult
	got := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r childResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // not ours
		}
		switch r.Event {
		case "start":
			if onStart != nil {
				onStart()
			}
		case "result":
			if onEnd != nil {
				onEnd()
			}
			res, got = r, true
		}
	}
	werr := cmd.Wait()
	switch {
	case !got:
		return res, fmt.Errorf("producer child exited without a result: %v", werr)
	case res.Err != "":
		return res, errors.New("producer child: " + res.Err)
	}
	return res, nil
}
