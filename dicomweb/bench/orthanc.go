package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Default locations of the Debian packages orthanc and orthanc-dicomweb.
const (
	DefaultOrthancBinary  = "/usr/sbin/Orthanc"
	DefaultDICOMwebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
)

// ErrNoOrthanc is returned by StartOrthanc when the Orthanc binary or its
// DICOMweb plugin is not installed.
var ErrNoOrthanc = errors.New("bench: Orthanc or its DICOMweb plugin is not installed (Debian packages orthanc, orthanc-dicomweb)")

// Peer is a DICOMweb server Orthanc is told about, under DicomWeb.Servers.
type Peer struct {
	URL     string            // its DICOMweb root, e.g. http://127.0.0.1:8080/dicom-web
	Headers map[string]string // sent with every request, e.g. Authorization
}

// OrthancConfig says how to start an Orthanc.
type OrthancConfig struct {
	Dir     string          // working directory: configuration, storage, index and log; required
	Binary  string          // DefaultOrthancBinary when empty
	Plugin  string          // DefaultDICOMwebPlugin when empty
	Peers   map[string]Peer // DICOMweb servers Orthanc may STOW to and query
	Threads int             // HTTP threads (Orthanc's default 50 when 0)
}

// Orthanc is a running Orthanc process with the DICOMweb plugin, on
// loopback ports of its own.
type Orthanc struct {
	URL       string // REST API root, http://127.0.0.1:PORT
	DICOMweb  string // URL + "/dicom-web"
	DicomPort int
	cmd       *exec.Cmd
	done      chan error
	logPath   string
}

// StartOrthanc writes a configuration into cfg.Dir, starts Orthanc and
// waits until its REST API answers.
func StartOrthanc(ctx context.Context, cfg OrthancConfig) (*Orthanc, error) {
	if cfg.Binary == "" {
		cfg.Binary = DefaultOrthancBinary
	}
	if cfg.Plugin == "" {
		cfg.Plugin = DefaultDICOMwebPlugin
	}
	for _, p := range []string{cfg.Binary, cfg.Plugin} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoOrthanc, err)
		}
	}
	if cfg.Dir == "" {
		return nil, errors.New("bench: OrthancConfig.Dir is required")
	}
	// The ports are free when chosen but another process may take one
	// before Orthanc binds it; Orthanc then exits, and a new pair is tried.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var o *Orthanc
		if o, err = launchOrthanc(ctx, cfg); err == nil || !errors.Is(err, errExited) {
			return o, err
		}
	}
	return nil, err
}

// errExited marks an Orthanc that exited while starting.
var errExited = errors.New("exited at start-up")

func launchOrthanc(ctx context.Context, cfg OrthancConfig) (*Orthanc, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	dicomPort, err := freePort()
	if err != nil {
		return nil, err
	}
	servers := map[string]any{}
	for name, p := range cfg.Peers {
		s := map[string]any{"Url": p.URL}
		if len(p.Headers) > 0 {
			s["HttpHeaders"] = p.Headers
		}
		servers[name] = s
	}
	conf := map[string]any{
		"Name":                  "telehub-peer",
		"StorageDirectory":      filepath.Join(cfg.Dir, "storage"),
		"IndexDirectory":        filepath.Join(cfg.Dir, "index"),
		"HttpPort":              httpPort,
		"DicomPort":             dicomPort,
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"StorageCompression":    false,
		"Plugins":               []string{cfg.Plugin},
		"HttpTimeout":           60,
		"DicomWeb": map[string]any{
			"Enable":  true,
			"Root":    "/dicom-web/",
			"Servers": servers,
		},
	}
	if cfg.Threads > 0 {
		conf["HttpThreadsCount"] = cfg.Threads
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(cfg.Dir, "orthanc.json")
	if err := os.WriteFile(confPath, b, 0o600); err != nil {
		return nil, fmt.Errorf("bench: write Orthanc configuration: %w", err)
	}
	logPath := filepath.Join(cfg.Dir, "orthanc.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.Binary, confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = cfg.Dir
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start Orthanc: %w", err)
	}
	o := &Orthanc{
		URL:       "http://127.0.0.1:" + strconv.Itoa(httpPort),
		DicomPort: dicomPort,
		cmd:       cmd,
		done:      make(chan error, 1),
		logPath:   logPath,
	}
	o.DICOMweb = o.URL + "/dicom-web"
	go func() { o.done <- cmd.Wait(); logf.Close() }()
	if err := o.waitReady(ctx, 30*time.Second); err != nil {
		o.Stop()
		return nil, err
	}
	return o, nil
}

func (o *Orthanc) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+"/system", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-o.done:
			o.done <- err
			return fmt.Errorf("bench: Orthanc %w (%v): %s", errExited, err, o.LogTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: Orthanc did not answer within %s: %s", limit, o.LogTail())
		}
	}
}

// Stop asks Orthanc to exit (SIGTERM), killing it if it has not within 10s.
func (o *Orthanc) Stop() error {
	if o == nil || o.cmd.Process == nil {
		return nil
	}
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-o.done:
		o.done <- err
		return nil
	case <-time.After(10 * time.Second):
		_ = o.cmd.Process.Kill()
		err := <-o.done
		o.done <- err
		return fmt.Errorf("bench: Orthanc did not stop on SIGTERM; killed")
	}
}

// PID is Orthanc's process id, for memory sampling.
func (o *Orthanc) PID() int { return o.cmd.Process.Pid }

// LogTail returns the end of Orthanc's log, for error messages.
func (o *Orthanc) LogTail() string {
	b, _ := os.ReadFile(o.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Upload stores one DICOM file through Orthanc's REST API (POST /instances)
// and returns Orthanc's id of the instance.
func (o *Orthanc) Upload(ctx context.Context, dcm []byte) (string, error) {
	var out struct {
		ID     string
		Status string
	}
	if err := o.Call(ctx, http.MethodPost, "/instances", "application/dicom", dcm, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// Call sends one request to Orthanc's REST API and decodes its JSON answer
// into out (when out is not nil).
func (o *Orthanc) Call(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, o.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: Orthanc %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("bench: Orthanc %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bench: Orthanc %s %s: %s: %s", method, path, resp.Status, clip(bytes.TrimSpace(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("bench: Orthanc %s %s: decode %s: %w", method, path, clip(b), err)
		}
	}
	return nil
}

// CallJSON posts a JSON document to Orthanc's REST API.
func (o *Orthanc) CallJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return o.Call(ctx, http.MethodPost, path, "application/json", b, out)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// clip shortens a body quoted in an error message.
func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}
