package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// raiseFileLimit lifts this process's open-file limit to at least need
// (one descriptor per subscriber plus slack), raising the hard limit too
// when the process may (root). A server the generator starts inherits the
// limit. It returns the soft limit in force.
func raiseFileLimit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= need {
		// Setting it anyway makes the runtime hand this limit, not the
		// one the process started with, to the server it starts.
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed past the hard limit: take what there is.
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, err2
		}
		return lim.Max, fmt.Errorf("open-file limit is %d (hard), %d wanted: %v", lim.Max, need, err)
	}
	return need, nil
}

// procStatus reads the kB fields of /proc/<pid>/status that matter here:
// VmRSS (resident now), VmHWM (peak resident), Threads.
type procStatus struct {
	RSS, HWM int64 // bytes
	Threads  int
}

func readProcStatus(pid int) (procStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	defer f.Close()
	var st procStatus
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			st.RSS = n << 10
		case "VmHWM":
			st.HWM = n << 10
		case "Threads":
			st.Threads = int(n)
		}
	}
	return st, sc.Err()
}

// procCPU is the CPU time pid has used (user + system), from
// /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields count from after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// Fields 14 and 15 of stat(5) (utime, stime) are 11 and 12 here.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks, nil
}

// selfCPU is the generator's own CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is /proc/loadavg's 1-minute figure: the machine is shared, and a
// figure measured under load says so next to it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return f[0]
}

// cost is what the machine had spent up to a moment: the server's CPU, the
// generator's and the machine's idle and total time (/proc/stat, in ticks).
type cost struct {
	server, generator time.Duration
	idle, total       int64
}

func changeCost(serverPID int) cost {
	var c cost
	if serverPID != 0 {
		c.server, _ = procCPU(serverPID)
	}
	c.generator = selfCPU()
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		// "cpu  user nice system idle iowait irq softirq steal ...": idle
		// counts idle and iowait.
		line, _, _ := strings.Cut(string(b), "\n")
		for i, f := range strings.Fields(line)[1:] {
			n, _ := strconv.ParseInt(f, 10, 64)
			c.total += n
			if i == 3 || i == 4 {
				c.idle += n
			}
		}
	}
	return c
}

func (c cost) since(before cost) cost {
	return cost{c.server - before.server, c.generator - before.generator, c.idle - before.idle, c.total - before.total}
}

func (c cost) idlePercent() float64 { return 100 * float64(c.idle) / float64(max(c.total, 1)) }
