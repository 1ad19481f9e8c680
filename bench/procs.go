package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started: its stdout is scanned line by line
// (and copied to a log file), its stderr goes to a log file.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string // stdout and stderr of the child
	// stopSig asks it to exit: SIGTERM, or SIGINT for PostgreSQL, whose
	// SIGTERM waits for every client to leave.
	stopSig syscall.Signal

	mu    sync.Mutex
	lines []string
	seen  chan struct{} // pinged on every stdout line
	done  chan struct{} // closed when the process has exited
	err   error         // the Wait error, once done
}

// startChild starts argv with exactly env (nothing inherited) in dir. The
// child is killed if the harness dies (Pdeathsig) and gets its own process
// group so that a Ctrl-C in the terminal reaches only the harness, which
// stops it in order.
func startChild(name string, argv, env []string, dir, logPath string) (*child, error) {
	return startChildAs(name, argv, env, dir, logPath, nil, syscall.SIGTERM)
}

// startChildAs is startChild with the user the child runs as (nil: the
// harness's) and the signal stop sends first.
func startChildAs(name string, argv, env []string, dir, logPath string, cred *syscall.Credential, stopSig syscall.Signal) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: cred}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, stopSig: stopSig, seen: make(chan struct{}, 1), done: make(chan struct{})}
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			c.mu.Lock()
			if len(c.lines) < 200 { // the start-up lines; later ones only go to the log
				c.lines = append(c.lines, line)
			}
			c.mu.Unlock()
			select {
			case c.seen <- struct{}{}:
			default:
			}
		}
		io.Copy(logFile, stdout)
	}()
	go func() {
		copied.Wait()
		err := cmd.Wait()
		logFile.Close()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitLine waits for a stdout line matching re and returns its submatches.
func (c *child) waitLine(ctx context.Context, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		c.mu.Lock()
		for _, l := range c.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				c.mu.Unlock()
				return m, nil
			}
		}
		c.mu.Unlock()
		select {
		case <-c.seen:
		case <-c.done:
			return nil, fmt.Errorf("%s exited (%v) before printing a line like %q; its log %s ends with:\n%s", c.name, c.exitErr(), re, c.log, tail(c.log, 2000))
		case <-t.C:
			return nil, fmt.Errorf("%s printed no line like %q within %s; its log %s ends with:\n%s", c.name, re, timeout, c.log, tail(c.log, 2000))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *child) findLine(re *regexp.Regexp) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	return nil
}

func (c *child) exitErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends its stop signal (SIGTERM by default) and waits for a graceful
// exit, then SIGKILLs. It returns the exit error of a process that did not
// exit cleanly.
func (c *child) stop(grace time.Duration) error {
	if c.exited() {
		return c.exitErr()
	}
	_ = c.cmd.Process.Signal(c.stopSig)
	select {
	case <-c.done:
		return c.exitErr()
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within %s of %v and was killed", c.name, grace, c.stopSig)
	}
}

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// memInfo is what /proc/<pid>/status says of a process's resident memory.
type memInfo struct {
	HWMKiB int64 // VmHWM: peak resident set since start or the last reset
	RSSKiB int64 // VmRSS: resident set now
}

// parseProcStatus reads VmHWM and VmRSS (in kB, which the kernel means as
// KiB) from the text of /proc/<pid>/status.
func parseProcStatus(r io.Reader) (memInfo, error) {
	var m memInfo
	var haveHWM, haveRSS bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("proc status: unexpected %s line %q", name, sc.Text())
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("proc status: %s: %w", name, err)
		}
		if name == "VmHWM" {
			m.HWMKiB, haveHWM = v, true
		} else {
			m.RSSKiB, haveRSS = v, true
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if !haveHWM || !haveRSS {
		return m, errors.New("proc status: no VmHWM/VmRSS (a kernel thread, or the process has exited)")
	}
	return m, nil
}

func readMem(pid int) (memInfo, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memInfo{}, err
	}
	defer f.Close()
	return parseProcStatus(f)
}

// resetPeak resets the process's VmHWM to its current RSS (writing 5 to
// clear_refs, Linux ≥ 4.0).
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakTracker follows one process's peak RSS per scenario and over its whole
// life: VmHWM only grows between resets, so the largest value read just
// before each reset and at the end is the peak since start.
type peakTracker struct {
	pid      int
	overall  int64
	canReset bool
	startRSS int64
}

func newPeakTracker(pid int) (*peakTracker, error) {
	m, err := readMem(pid)
	if err != nil {
		return nil, err
	}
	p := &peakTracker{pid: pid, overall: m.HWMKiB, startRSS: m.RSSKiB}
	p.canReset = resetPeak(pid) == nil
	return p, nil
}

// begin folds the peak so far into the overall peak and resets it.
func (p *peakTracker) begin() {
	p.observe()
	if p.canReset {
		_ = resetPeak(p.pid)
	}
}

// observe reads the peak since the last reset, folding it into the overall.
func (p *peakTracker) observe() int64 {
	m, err := readMem(p.pid)
	if err != nil {
		return 0
	}
	p.overall = max(p.overall, m.HWMKiB)
	return m.HWMKiB
}

// netWatch samples the sockets a process holds and records every remote
// endpoint that is not loopback: the proof that nothing left the machine.
type netWatch struct {
	pid     int
	mu      sync.Mutex
	samples int
	maxSock int
	remote  map[string]bool // non-loopback remote endpoints seen
}

func watchNet(ctx context.Context, pid int, every time.Duration) *netWatch {
	w := &netWatch{pid: pid, remote: map[string]bool{}}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			w.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *netWatch) sample() {
	inodes, err := socketInodes(w.pid)
	if err != nil {
		return // the process is gone
	}
	var remotes []string
	for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", w.pid, f))
		if err != nil {
			continue
		}
		for _, s := range parseProcNet(string(b)) {
			if !inodes[s.inode] || s.remote.IP.IsUnspecified() || s.remote.IP.IsLoopback() {
				continue
			}
			remotes = append(remotes, f+" "+s.remote.String())
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	w.maxSock = max(w.maxSock, len(inodes))
	for _, r := range remotes {
		w.remote[r] = true
	}
}

// result is a summary line and whether anything non-loopback was seen.
func (w *netWatch) result() (string, bool) {
	w.sample()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.remote) == 0 {
		return fmt.Sprintf("no socket to a non-loopback address in %d samples (up to %d sockets open)", w.samples, w.maxSock), true
	}
	var rs []string
	for r := range w.remote {
		rs = append(rs, r)
	}
	return fmt.Sprintf("SOCKETS TO NON-LOOPBACK ADDRESSES: %s", strings.Join(rs, ", ")), false
}

// socketInodes lists the inodes of the sockets among a process's open files.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := map[uint64]bool{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				m[n] = true
			}
		}
	}
	return m, nil
}

type procSocket struct {
	local, remote net.TCPAddr // the port and IP, for UDP too
	inode         uint64
}

// parseProcNet parses /proc/net/{tcp,tcp6,udp,udp6}: addresses are hex, each
// 32-bit word in host (little-endian) order, ports big-endian hex.
func parseProcNet(text string) []procSocket {
	var out []procSocket
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 10 {
			continue
		}
		l, err1 := parseHexAddr(f[1])
		r, err2 := parseHexAddr(f[2])
		inode, err3 := strconv.ParseUint(f[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, procSocket{local: l, remote: r, inode: inode})
	}
	return out
}

func parseHexAddr(s string) (net.TCPAddr, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok || (len(ipHex) != 8 && len(ipHex) != 32) {
		return net.TCPAddr{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil {
		return net.TCPAddr{}, err
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return net.TCPAddr{}, err
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 { // each 32-bit word is little-endian
		ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	return net.TCPAddr{IP: ip, Port: int(port)}, nil
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// userHZ is the unit of /proc/<pid>/stat's CPU times: USER_HZ, which Linux
// fixes at 100 for what it reports to user space, whatever the kernel's HZ.
const userHZ = 100

// readCPU is the CPU time (user + system, all threads) process pid has used.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads utime and stime, fields 14 and 15 of /proc/<pid>/stat:
// the CPU time of the process's own threads.
func parseProcStat(stat string) (time.Duration, error) {
	t, err := parseStatTimes(stat)
	if err != nil {
		return 0, err
	}
	return t.self, nil
}

// statTimes is what /proc/<pid>/stat says of a process's parent and CPU
// time.
type statTimes struct {
	ppid int
	self time.Duration // utime + stime (fields 14, 15)
	// reaped is cutime + cstime (fields 16, 17): the CPU time of the
	// children it has waited for. A PostgreSQL backend or autovacuum
	// worker that exits takes its time there, in the postmaster's.
	reaped time.Duration
}

// parseStatTimes reads fields 4 and 14–17 of /proc/<pid>/stat. The command
// name (field 2) is in parentheses and may hold spaces and ')', so the fields
// are counted from the last ')'.
func parseStatTimes(stat string) (statTimes, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return statTimes{}, errors.New("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return statTimes{}, errors.New("proc stat: too few fields")
	}
	var ticks [4]int64
	for k, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return statTimes{}, fmt.Errorf("proc stat: CPU time %q", s)
		}
		ticks[k] = n
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return statTimes{}, fmt.Errorf("proc stat: ppid %q", f[1])
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	return statTimes{ppid: ppid, self: tick(ticks[0] + ticks[1]), reaped: tick(ticks[2] + ticks[3])}, nil
}

// readTreeCPU is the CPU time that process root and its descendants have
// used, the exited ones included: the sum over the live processes of the
// tree of their own time and their reaped children's. For a PostgreSQL
// cluster that is the postmaster, every backend and the background
// processes. A child that exits between the reads of one call is counted
// once or twice, by a few milliseconds at most; the processes that matter
// (the pool's backends) live through the window.
func readTreeCPU(root int) (time.Duration, error) {
	rootStat, err := readStatTimes(root)
	if err != nil {
		return 0, err
	}
	procs, err := readAllStatTimes()
	if err != nil {
		return 0, err
	}
	return treeCPU(root, rootStat, procs), nil
}

// treeCPU sums the tree under root in procs (pid → times).
func treeCPU(root int, rootStat statTimes, procs map[int]statTimes) time.Duration {
	children := map[int][]int{}
	for pid, t := range procs {
		children[t.ppid] = append(children[t.ppid], pid)
	}
	total := rootStat.self + rootStat.reaped
	queue := slices.Clone(children[root])
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		t := procs[pid]
		total += t.self + t.reaped
		queue = append(queue, children[pid]...)
	}
	return total
}

func readStatTimes(pid int) (statTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return statTimes{}, err
	}
	return parseStatTimes(string(b))
}

// readAllStatTimes reads every process's stat: scanning /proc for the
// parent ids needs nothing of the kernel beyond /proc/<pid>/stat (the
// children files are a build option). Processes that exit while it reads
// are left out.
func readAllStatTimes() (map[int]statTimes, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := make(map[int]statTimes, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, err := readStatTimes(pid); err == nil {
			procs[pid] = t
		}
	}
	return procs, nil
}
