package main

// The checks 'boxmail install' makes before it writes anything: root,
// Debian or Ubuntu, systemd, and the ports the box serves free (naming
// the program that holds one, from /proc, with the fix).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"boxmail/internal/config"
)

// Test knobs of 'boxmail install', read from the environment so that they
// stay out of its flags: the effective uid the root check sees, and the
// ports to check instead of the box's ("none": none).
const (
	envInstallEUID  = "BOXMAIL_INSTALL_EUID"
	envInstallPorts = "BOXMAIL_INSTALL_PORTS"
)

// checkRoot refuses to install as anyone but root.
func checkRoot(e *env) error {
	euid := os.Geteuid()
	if v := e.getenv(envInstallEUID); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want a number", envInstallEUID, v)
		}
		euid = n
	}
	if euid != 0 {
		return fmt.Errorf("must run as root (it creates the system user boxmail and writes %s, %s and %s): run it with sudo", installBin, installUnit, installDataDir)
	}
	return nil
}

// osRelease reads the KEY=value pairs of ROOT/etc/os-release (or
// ROOT/usr/lib/os-release, its fallback).
func osRelease(root string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(root, "/etc/os-release"))
	if errors.Is(err, fs.ErrNotExist) {
		data, err = os.ReadFile(filepath.Join(root, "/usr/lib/os-release"))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot tell which Linux distribution this is (no %s: %w); boxmail install supports Debian and Ubuntu", filepath.Join(root, "/etc/os-release"), err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'"`)
		}
		m[k] = v
	}
	return m, sc.Err()
}

// checkDistro accepts Debian, Ubuntu and their derivatives.
func checkDistro(root string) error {
	m, err := osRelease(root)
	if err != nil {
		return err
	}
	ids := append([]string{m["ID"]}, strings.Fields(m["ID_LIKE"])...)
	if slices.Contains(ids, "debian") || slices.Contains(ids, "ubuntu") {
		return nil
	}
	name := m["PRETTY_NAME"]
	if name == "" {
		name = m["ID"]
	}
	return fmt.Errorf("this is %s (ID=%s), and boxmail install supports Debian and Ubuntu only: on another system run 'boxmail init' and 'boxmail serve --dir %s' under its service manager (README, Production)", name, m["ID"], installDataDir)
}

// checkSystemd wants systemd running (sd_booted's test: /run/systemd/system
// exists) and, on the real system, systemctl.
func checkSystemd(root string) error {
	fix := fmt.Sprintf("boxmail install writes a systemd unit; without systemd run 'boxmail serve --dir %s' under your service manager (README, Production)", installDataDir)
	if fi, err := os.Stat(filepath.Join(root, "/run/systemd/system")); err != nil || !fi.IsDir() {
		return fmt.Errorf("systemd is not running here (no %s): %s", filepath.Join(root, "/run/systemd/system"), fix)
	}
	if root != "" {
		return nil
	}
	if _, err := exec.LookPath("systemctl"); err != nil {
		return fmt.Errorf("systemctl is not installed: %s", fix)
	}
	return nil
}

// installPort is a port the box serves: TCP, and UDP too for DNS.
type installPort struct {
	port int
	udp  bool
}

// portsToCheck are the ports of a new box (config.Default), or those the
// test knob lists.
func portsToCheck(e *env) ([]installPort, error) {
	if v := e.getenv(envInstallPorts); v != "" {
		if v == "none" {
			return nil, nil
		}
		var ps []installPort
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("%s: %q is not a port", envInstallPorts, s)
			}
			ps = append(ps, installPort{port: n})
		}
		return ps, nil
	}
	cfg := config.Default("box.invalid")
	var ps []installPort
	for _, f := range portFlagList {
		if n := *f.field(&cfg); n != 0 {
			ps = append(ps, installPort{port: n, udp: f.name == "dns"})
		}
	}
	return ps, nil
}

// holder is a process holding a socket.
type holder struct {
	pid  int
	comm string
}

// checkPortsFree fails naming each port another program listens on. A port
// boxmail itself holds (a second run, an upgrade) is fine.
func checkPortsFree(ports []installPort) error {
	if len(ports) == 0 {
		return nil
	}
	tcp := listeningInodes([]string{"/proc/net/tcp", "/proc/net/tcp6"}, "0A")
	udp := listeningInodes([]string{"/proc/net/udp", "/proc/net/udp6"}, "07")
	owners := socketOwners()
	var msgs []string
	for _, p := range ports {
		inodes := tcp[p.port]
		proto := "TCP"
		if p.udp && len(inodes) == 0 {
			inodes, proto = udp[p.port], "UDP"
		}
		if len(inodes) == 0 {
			continue
		}
		var h *holder
		for _, ino := range inodes {
			if o, ok := owners[ino]; ok {
				h = &o
				break
			}
		}
		if h != nil && h.comm == "boxmail" {
			continue
		}
		msgs = append(msgs, portTaken(p.port, proto, h))
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "\n"))
	}
	return nil
}

// knownHolders are programs often found on the box's ports: their name and
// how to free the port.
var knownHolders = map[string]struct{ name, fix string }{
	"master":          {"Postfix", "boxmail replaces it: move its mail over first (README, DNS and the migration), then 'systemctl disable --now postfix'"},
	"exim4":           {"Exim", "boxmail replaces it: 'systemctl disable --now exim4'"},
	"sendmail":        {"Sendmail", "boxmail replaces it: 'systemctl disable --now sendmail'"},
	"dovecot":         {"Dovecot", "boxmail replaces it: move its mailboxes over first ('boxmail migrate'), then 'systemctl disable --now dovecot'"},
	"systemd-resolve": {"systemd-resolved's stub resolver", "set DNSStubListener=no in /etc/systemd/resolved.conf, point /etc/resolv.conf at /run/systemd/resolve/resolv.conf, then 'systemctl restart systemd-resolved'"},
	"dnsmasq":         {"dnsmasq", "'systemctl disable --now dnsmasq', or set port=0 (or another listen-address) in /etc/dnsmasq.conf"},
	"named":           {"BIND", "'systemctl disable --now named' (boxmail serves its domains' DNS itself)"},
	"unbound":         {"Unbound", "make it listen on 127.0.0.1 only, or 'systemctl disable --now unbound'"},
	"nginx":           {"nginx", "'systemctl disable --now nginx' (boxmail serves its web pages itself)"},
	"apache2":         {"Apache", "'systemctl disable --now apache2' (boxmail serves its web pages itself)"},
	"caddy":           {"Caddy", "'systemctl disable --now caddy' (boxmail serves its web pages itself)"},
}

// portTaken is the message for a port someone else holds.
func portTaken(port int, proto string, h *holder) string {
	switch {
	case h == nil:
		return fmt.Sprintf("port %d (%s) is taken by another program: 'ss -lntup sport = :%d' names it; stop it, boxmail needs the port", port, proto, port)
	case knownHolders[h.comm].name != "":
		k := knownHolders[h.comm]
		return fmt.Sprintf("port %d (%s) is taken by %s (%s, pid %d): %s", port, proto, k.name, h.comm, h.pid, k.fix)
	default:
		return fmt.Sprintf("port %d (%s) is taken by %s (pid %d): stop it or move it to another port, boxmail needs this one", port, proto, h.comm, h.pid)
	}
}

// listeningInodes reads /proc/net/{tcp,udp}[6]: the socket inodes in
// state (0A: TCP LISTEN; 07: UDP bound) by local port.
func listeningInodes(files []string, state string) map[int][]string {
	m := map[int][]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // no IPv6, or no /proc: nothing to tell
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != state {
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
				m[int(p)] = append(m[int(p)], fs[9])
			}
		}
	}
	return m
}

// socketOwners maps socket inodes to the process holding them, from the
// /proc/PID/fd links it may read (all of them as root).
func socketOwners() map[string]holder {
	m := map[string]holder{}
	pids, err := os.ReadDir("/proc")
	if err != nil {
		return m
	}
	for _, p := range pids {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		comm := ""
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if comm == "" {
				if b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "comm")); err == nil {
					comm = strings.TrimSpace(string(b))
				}
			}
			m[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = holder{pid: pid, comm: comm}
		}
	}
	return m
}
