package conformance

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/telehub/telehub/store/mongo/mongotest"
)

// ferret is the one FerretDB of this test binary, started by the first test
// that needs it and stopped by TestMain; each test gets its own database in it.
var ferret sharedFerretDB

func TestMain(m *testing.M) {
	code := m.Run()
	if err := ferret.stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

type sharedFerretDB struct {
	once sync.Once
	tb   *binaryTB
	addr string
	err  error
}

// uri starts FerretDB on first use and returns its URI.
func (f *sharedFerretDB) uri() (string, error) {
	f.once.Do(func() {
		dir, err := os.MkdirTemp("", "conformance-ferretdb-")
		if err != nil {
			f.err = fmt.Errorf("FerretDB folder: %w", err)
			return
		}
		f.tb = &binaryTB{dir: dir}
		f.addr, f.err = f.tb.run(func() string { return mongotest.Start(f.tb) })
	})
	return f.addr, f.err
}

// stop runs the cleanups mongotest registered (stopping FerretDB) and
// removes its folder; it reports what FerretDB logged if it failed.
func (f *sharedFerretDB) stop() error {
	if f.tb == nil {
		return nil
	}
	return f.tb.finish()
}

// binaryTB is the testing.TB mongotest.Start gets when FerretDB must outlive
// any single test: its cleanups run at the end of the test binary. Only the
// methods mongotest uses are implemented; the embedded nil TB makes any other
// call fail loudly.
type binaryTB struct {
	testing.TB
	dir string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	messages []string
}

// fatal is the panic value Fatalf uses to stop the start-up.
type fatal struct{ msg string }

// run calls start, turning a Fatalf inside it into an error.
func (b *binaryTB) run(start func() string) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("mongotest: %s", f.msg)
		}
	}()
	return start(), nil
}

func (b *binaryTB) finish() error {
	b.mu.Lock()
	cleanups := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	rmErr := os.RemoveAll(b.dir)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed {
		return fmt.Errorf("FerretDB: %s", strings.Join(b.messages, "\n"))
	}
	if rmErr != nil {
		return fmt.Errorf("FerretDB folder: %w", rmErr)
	}
	return nil
}

func (b *binaryTB) Helper()          {}
func (b *binaryTB) Name() string     { return "conformance-ferretdb" }
func (b *binaryTB) TempDir() string  { return b.dir }
func (b *binaryTB) Cleanup(f func()) { b.mu.Lock(); b.cleanups = append(b.cleanups, f); b.mu.Unlock() }

func (b *binaryTB) Failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed
}

func (b *binaryTB) Logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.messages = append(b.messages, fmt.Sprintf(format, args...))
}

func (b *binaryTB) Errorf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed = true
	b.messages = append(b.messages, fmt.Sprintf(format, args...))
}

func (b *binaryTB) Fatalf(format string, args ...any) {
	b.Errorf(format, args...)
	panic(fatal{msg: fmt.Sprintf(format, args...)})
}
