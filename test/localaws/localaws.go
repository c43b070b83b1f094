// Package localaws runs the local AWS the end-to-end tests and `make demo`
// use: moto_server extended with the PrivateLink provider API
// (moto_privatelink.py beside this file) and the Lambda Runtime Interface
// Emulator running the real bootstrap binary. Every server binds to
// 127.0.0.1 on a free port and is stopped by Stop.
package localaws

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
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ProviderAccount is moto's default account, the provider in every scenario.
const ProviderAccount = "123456789012"

// Region is the provider's usual region.
const Region = "us-east-1"

// Dir is the folder of this package, where moto_privatelink.py is.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// FreeAddrs returns n distinct free 127.0.0.1 addresses. The listeners are
// held until all n are chosen, so the system cannot hand out one port twice.
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// process is a server started in its own process group so that Stop ends
// it and anything it started.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

func start(name string, args, env []string, log io.Writer) (*process, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	var w io.Writer = out
	if log != nil {
		w = io.MultiWriter(out, log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), out: out}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHTTP polls url until it answers or the process exits.
func waitHTTP(p *process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited before answering on %s:\n%s", url, p.out.String())
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s after %s", url, timeout)
}

// syncBuffer is a bytes.Buffer safe for a writer and readers at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Moto is a running moto server with the PrivateLink extension.
type Moto struct {
	// URL is the endpoint for AWS_ENDPOINT_URL.
	URL string
	// ControlFile and StatsFile are the extension's control and call-count
	// files (see moto_privatelink.py).
	ControlFile, StatsFile string
	proc                   *process
}

// StartMoto starts moto in workDir (for its control and stats files).
// python is the interpreter with moto installed; log, when not nil,
// receives the server's output.
func StartMoto(python, workDir string, log io.Writer) (*Moto, error) {
	addrs, err := FreeAddrs(1)
	if err != nil {
		return nil, err
	}
	addr := addrs[0]
	host, port, _ := net.SplitHostPort(addr)
	m := &Moto{
		URL:         "http://" + addr,
		ControlFile: filepath.Join(workDir, "moto-control.json"),
		StatsFile:   filepath.Join(workDir, "moto-stats.json"),
	}
	env := append(cleanEnv(),
		"PRIVATELINK_CONTROL_FILE="+m.ControlFile,
		"PRIVATELINK_STATS_FILE="+m.StatsFile,
	)
	m.proc, err = start(python, []string{filepath.Join(Dir(), "moto_privatelink.py"), "-H", host, "-p", port}, env, log)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(m.proc, m.URL+"/moto-api/", 60*time.Second); err != nil {
		m.Stop()
		return nil, fmt.Errorf("moto: %w", err)
	}
	return m, nil
}

// Stop ends the server.
func (m *Moto) Stop() { m.proc.stop() }

// Control writes the extension's control file (e.g. {"maxPageSize": 3}).
func (m *Moto) Control(control map[string]any) error {
	b, err := json.Marshal(control)
	if err != nil {
		return err
	}
	// Write then rename: the server reads the file on every request and
	// must never see it half-written.
	tmp := m.ControlFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, m.ControlFile)
}

// Stats returns the calls moto has served, by "service:Action".
func (m *Moto) Stats() (map[string]int, error) {
	b, err := os.ReadFile(m.StatsFile)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, err
	}
	stats := map[string]int{}
	return stats, json.Unmarshal(b, &stats)
}

// Config returns an SDK configuration that talks to moto as account.
func (m *Moto) Config(account, region string) aws.Config {
	cfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(m.URL),
	}
	if account != ProviderAccount {
		// moto keeps accounts apart by this header: consumers are other
		// accounts than the provider.
		cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
			return smithyhttp.AddHeaderValue("x-moto-account-id", account)(stack)
		})
	}
	return cfg
}

// FunctionEnv is the environment of a function of the provider in region:
// the SDK talks to moto through AWS_ENDPOINT_URL with test credentials.
func (m *Moto) FunctionEnv(region string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + m.URL,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
	}
}

// cleanEnv is the environment of the servers: this process's, less any AWS
// setting that could point them at a real account.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "MOTO_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Function is the real bootstrap binary running under the Runtime Interface
// Emulator.
type Function struct {
	url  string
	proc *process
}

// StartFunction runs bootstrap under the emulator rie with env added to a
// clean environment. log, when not nil, also receives its output.
func StartFunction(rie, bootstrap string, env []string, log io.Writer) (*Function, error) {
	addrs, err := FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	rieAddr, apiAddr := addrs[0], addrs[1]
	proc, err := start(rie, []string{
		"--runtime-interface-emulator-address", rieAddr,
		"--runtime-api-address", apiAddr,
		bootstrap,
	}, append(append(cleanEnv(), "AWS_LAMBDA_FUNCTION_TIMEOUT=60", "LOG_LEVEL=warn"), env...), log)
	if err != nil {
		return nil, err
	}
	f := &Function{url: "http://" + rieAddr + "/2015-03-31/functions/function/invocations", proc: proc}
	if err := waitTCP(proc, rieAddr, 10*time.Second); err != nil {
		f.Stop()
		return nil, fmt.Errorf("runtime interface emulator: %w", err)
	}
	return f, nil
}

func waitTCP(p *process, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited before listening on %s:\n%s", addr, p.out.String())
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s after %s", addr, timeout)
}

// Stop ends the emulator and the function.
func (f *Function) Stop() { f.proc.stop() }

// Output is everything the emulator and the function printed so far.
func (f *Function) Output() string { return f.proc.out.String() }

// FunctionError is an invocation that returned an error.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func (e *FunctionError) Error() string { return e.Message }

// Invoke sends payload and returns the function's answer, or a
// *FunctionError when the function returned an error.
func (f *Function) Invoke(ctx context.Context, payload []byte) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &FunctionError{Type: resp.Status, Message: fmt.Sprintf("emulator answered %s (the function crashed or exited): %s", resp.Status, body)}
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" && fe.Message != "" {
		return nil, &fe
	}
	return body, nil
}

// Logs returns the function's JSON log lines with msg equal to msg (all
// lines when msg is empty), in order.
func (f *Function) Logs(msg string) []map[string]any {
	var lines []map[string]any
	for _, line := range strings.Split(f.Output(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["level"] == nil {
			continue
		}
		if msg == "" || m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}
