package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telehub/telehub/store/sqlite"
)

// binary is the telehub built once for the tests that run it.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// buildBinary compiles telehub, once, into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "telehub-test-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "telehub")
		if out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// process is a telehub started by a test, with its JSON log lines.
type process struct {
	cmd  *exec.Cmd
	addr string
	// started is the start-up log line.
	started map[string]any
	// lines receives every log line as it is written; it closes at exit.
	lines chan map[string]any
	mu    sync.Mutex
	log   []string
}

// startBinary runs telehub with args and waits for its start-up log line.
func startBinary(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info"}, args...)...)
	// Every binary has a backend client, so that tests can get tokens.
	cmd.Env = append(os.Environ(), "TELEHUB_STORE=", "TELEHUB_BASE_URL=", "TELEHUB_BOOTSTRAP_CLIENT="+binaryClient+":"+bootstrapSecret)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan map[string]any, 1000)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("telehub logs:\n%s", strings.Join(p.log, "\n"))
			p.mu.Unlock()
		}
	})
	go p.readLogs(stderr)
	started := p.waitFor(t, "telehub listening")
	p.started = started
	p.addr, _ = started["addr"].(string)
	if p.addr == "" {
		t.Fatalf("start-up line has no addr: %v", started)
	}
	for _, key := range []string{"base_url", "store", "store_target"} {
		if started[key] == nil {
			t.Errorf("start-up line lacks %s: %v", key, started)
		}
	}
	return p
}

func (p *process) readLogs(r io.Reader) {
	defer close(p.lines)
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		p.mu.Lock()
		p.log = append(p.log, scanner.Text())
		p.mu.Unlock()
		var line map[string]any
		if json.Unmarshal(scanner.Bytes(), &line) == nil {
			p.lines <- line
		}
	}
}

// waitFor returns the first log line with message msg, failing if the
// process exits first.
func (p *process) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	for line := range p.lines {
		if line["msg"] == msg {
			return line
		}
	}
	t.Fatalf("telehub exited without logging %q", msg)
	return nil
}

func (p *process) url(path string) string { return "http://" + p.addr + path }

// binaryClient is the bootstrap client of the binaries tests start.
const binaryClient = "binary-test"

// bearer returns an Authorization header value for a backend token of the
// binary's bootstrap client with scope.
func (p *process) bearer(t *testing.T, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, p.url("/auth/token"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(binaryClient, bootstrapSecret)
	res := send(t, &http.Client{Timeout: 30 * time.Second}, req, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(res.body), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token response %s", res.body)
	}
	return "Bearer " + tok.AccessToken
}

const testPatient = `{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","value":"%s"}],"name":[{"family":"Martin","given":["Hélène"]}]}`

// TestServeShutdownDrainsInFlightRequest sends SIGTERM while a create is in
// flight (its handler waiting for the body), waits until the server refuses
// new connections, then sends the body: the request must succeed, the
// process exit 0, and the SQLite file hold the resource.
func TestServeShutdownDrainsInFlightRequest(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	data := t.TempDir()
	p := startBinary(t, bin, "--data", data)

	body := fmt.Sprintf(testPatient, "in-flight")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// With Expect: 100-continue the server answers "100 Continue" when the
	// handler starts reading the body: from then on the request is in flight.
	fmt.Fprintf(conn, "POST /fhir/Patient HTTP/1.1\r\nHost: %s\r\nContent-Type: application/fhir+json\r\n"+
		"Authorization: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", p.addr, p.bearer(t, "system/Patient.c"), len(body))
	replies := bufio.NewReader(conn)
	if res, err := http.ReadResponse(replies, nil); err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v, %v", res, err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "shutting down")
	waitUntilRefused(t, p.addr)

	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatalf("finishing the in-flight request: %v", err)
	}
	res, err := http.ReadResponse(replies, nil)
	if err != nil {
		t.Fatalf("in-flight request got no response: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight create: status %d, want 201", res.StatusCode)
	}
	id := idFromLocation(t, res.Header.Get("Location"))

	p.waitFor(t, "stopped")
	for range p.lines { // drain the logs until the process closes stderr
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v, want status 0", err)
	}

	dbPath := filepath.Join(data, "telehub.db")
	// A store closed cleanly has checkpointed its write-ahead log away.
	if info, err := os.Stat(dbPath + "-wal"); err == nil && info.Size() > 0 {
		t.Errorf("the store was not closed: %d bytes left in its write-ahead log", info.Size())
	}
	checkIntegrity(t, dbPath)
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.Read(context.Background(), "Patient", id)
	if err != nil {
		t.Fatalf("the in-flight create is not in the store: %v", err)
	}
	if !strings.Contains(string(stored.Body), "in-flight") {
		t.Fatalf("stored body %s", stored.Body)
	}
}

// waitUntilRefused returns once the server has closed its listener, that is
// once its shutdown has begun.
func waitUntilRefused(t *testing.T, addr string) {
	t.Helper()
	for range 1000 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the server still accepts connections 10 s after SIGTERM")
}

// checkIntegrity runs SQLite's own consistency check on the file.
func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil {
		t.Fatal(err)
	}
	if result != "ok" {
		t.Fatalf("integrity_check: %s", result)
	}
}

func idFromLocation(t *testing.T, location string) string {
	t.Helper()
	_, rest, ok := strings.Cut(location, "/Patient/")
	if !ok {
		t.Fatalf("Location %q names no Patient", location)
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// TestServeWiring checks, on the real binary, that the FHIR API, the probes,
// the metrics and the request ids are wired together.
func TestServeWiring(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	p := startBinary(t, bin, "--data", t.TempDir())
	client := &http.Client{Timeout: 30 * time.Second}
	bearer := p.bearer(t, "system/Patient.cruds")

	// Without a token the FHIR API answers 401 and says how to authenticate.
	anon, _ := http.NewRequest(http.MethodGet, p.url("/fhir/Patient"), nil)
	if res := send(t, client, anon, http.StatusUnauthorized); !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("401 without WWW-Authenticate: %v", res.Header)
	}
	metadata, _ := http.NewRequest(http.MethodGet, p.url("/fhir/metadata"), nil)
	send(t, client, metadata, http.StatusOK)

	req, _ := http.NewRequest(http.MethodPost, p.url("/fhir/Patient"), strings.NewReader(fmt.Sprintf(testPatient, "wiring")))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", bearer)
	req.Header.Set("X-Request-Id", "wiring-test-1")
	res := send(t, client, req, http.StatusCreated)
	if got := res.Header.Get("X-Request-Id"); got != "wiring-test-1" {
		t.Errorf("X-Request-Id %q, want the one sent", got)
	}
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "http://127.0.0.1:") {
		t.Errorf("Location %q does not start with the derived base URL", loc)
	}
	id := idFromLocation(t, res.Header.Get("Location"))

	checks := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/fhir/Patient/" + id, http.StatusOK, `"wiring"`},
		{"/fhir/Patient/does-not-exist", http.StatusNotFound, "OperationOutcome"},
		{"/healthz", http.StatusOK, `"ok"`},
		{"/readyz", http.StatusOK, `"ok"`},
		{"/metrics", http.StatusOK, `telehub_http_requests_total{code="201",interaction="create"} 1`},
	}
	for _, c := range checks {
		req, _ := http.NewRequest(http.MethodGet, p.url(c.path), nil)
		req.Header.Set("Authorization", bearer)
		res := send(t, client, req, c.wantStatus)
		if !strings.Contains(res.body, c.wantBody) {
			t.Errorf("GET %s: body lacks %q:\n%.500s", c.path, c.wantBody, res.body)
		}
	}
	// Stop the server so that every log line has been written.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var access map[string]any
	for line := range p.lines {
		if line["msg"] == "request" && line["request_id"] == "wiring-test-1" {
			access = line
		}
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit: %v, want status 0", err)
	}
	if access == nil || access["interaction"] != "create" || access["status"] != float64(201) {
		t.Errorf("access log line of the create: %v", access)
	}
}

type response struct {
	*http.Response
	body string
}

func send(t *testing.T, client *http.Client, req *http.Request, wantStatus int) response {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %.500s", req.Method, req.URL.Path, res.StatusCode, wantStatus, body)
	}
	return response{res, string(body)}
}
