// Package pgtest starts a private PostgreSQL cluster on loopback for a
// test run and hands out a fresh database per test (issue 23), so the
// store's tests, and the tests above it, run on PostgreSQL as they run on
// SQLite. It is its own package, importing no other of boxmail's,
// because the store's in-package tests need it and testutil imports the
// store.
//
// The cluster is made by initdb and run by pg_ctl (both in PATH: Debian's
// postgresql 15) in a temporary directory, with fsync off, listening on
// 127.0.0.1 at a free port and on a socket in that directory. PostgreSQL
// refuses to run as root: as root, the cluster runs as the postgres
// user (runuser). Stop removes it; a test binary's TestMain calls it, and
// a watcher process removes it when the test binary dies without.
//
// It is not for production code: only _test.go files import it.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvVar, set to 1, runs the store's tests on PostgreSQL.
const EnvVar = "BOXMAIL_TEST_PG"

// Enabled reports whether the tests are to run on PostgreSQL.
func Enabled() bool { return os.Getenv(EnvVar) == "1" }

var (
	once    sync.Once
	started *cluster
	errUp   error
	dbs     atomic.Int64
)

type cluster struct {
	dir   string // owned by the user the server runs as
	port  int
	admin *sql.DB // to the postgres database, for CREATE DATABASE
	asPG  bool    // commands run through runuser -u postgres
}

// NewDatabase creates an empty database in the run's cluster, starting
// the cluster on first use, and returns its URL.
func NewDatabase() (string, error) {
	once.Do(func() { started, errUp = start() })
	if errUp != nil {
		return "", errUp
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := started.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return fmt.Sprintf("postgres://boxmail:test@127.0.0.1:%d/%s?sslmode=disable", started.port, name), nil
}

// Stop stops the cluster, if one was started, and removes its files.
func Stop() error {
	if started == nil {
		return nil
	}
	c := started
	started = nil
	err := c.admin.Close()
	if out, perr := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop"); perr != nil {
		err = errors.Join(err, fmt.Errorf("pg_ctl stop: %w: %s", perr, out))
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

func start() (*cluster, error) {
	for _, tool := range []string{"initdb", "pg_ctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found (install Debian's postgresql): %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "boxmail-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, asPG: os.Geteuid() == 0}
	if err := c.init(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return c, nil
}

func (c *cluster) init() error {
	if c.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running PostgreSQL as root is refused, and there is no postgres user: %w", err)
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("the postgres user's ids: %w", err)
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(c.dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "boxmail", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	opts := fmt.Sprintf("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=400", port, c.dir)
	if out, err := c.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, log)
	}
	if err := c.watch(data); err != nil {
		return err
	}
	c.admin, err = sql.Open("pgx", fmt.Sprintf("postgres://boxmail@127.0.0.1:%d/postgres?sslmode=disable", port))
	if err != nil {
		return err
	}
	return c.admin.Ping()
}

// watch starts a watcher, in a session of its own, that stops the
// cluster and removes its files once this test process is gone: a test
// binary that panics or is killed never reaches Stop.
func (c *cluster) watch(data string) error {
	script := fmt.Sprintf("while [ -d /proc/%d ]; do sleep 1; done; pg_ctl -D '%s' -m immediate -w stop >/dev/null 2>&1; rm -rf '%s'",
		os.Getpid(), data, c.dir)
	name, args := "sh", []string{"-c", script}
	if c.asPG {
		name, args = "runuser", append([]string{"-u", "postgres", "--", name}, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the cluster's watcher: %w", err)
	}
	return cmd.Process.Release()
}

// run runs a PostgreSQL tool, as the postgres user when we are root.
func (c *cluster) run(name string, args ...string) ([]byte, error) {
	if c.asPG {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}
