package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgPoolPerInstance is db/postgres.go's pgMaxOpenConns: the connections one
// service instance may hold.
const pgPoolPerInstance = 16

// pgRole is the role the service logs in as; each database set gets a
// database of its own, owned by it.
const pgRole = "wxavatar"

// pgGlob is where Debian's packages put each major version's binaries.
const pgGlob = "/usr/lib/postgresql/*/bin"

// findPostgres returns the folder holding initdb and postgres: the highest
// version under pgGlob, or else pg_config's BINDIR.
func findPostgres() (string, error) {
	if dir := highestPostgres(pgGlob); dir != "" {
		return dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasPostgres(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres) in %s or pg_config --bindir", pgGlob)
}

// highestPostgres picks, among the folders pattern matches, the one of the
// highest version (the path's component above bin: 9.6 < 15 < 16) that holds
// initdb and postgres.
func highestPostgres(pattern string) string {
	dirs, _ := filepath.Glob(pattern)
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !hasPostgres(d) })
	if len(dirs) == 0 {
		return ""
	}
	version := func(d string) []int {
		var v []int
		for _, p := range strings.Split(filepath.Base(filepath.Dir(d)), ".") {
			n, _ := strconv.Atoi(p)
			v = append(v, n)
		}
		return v
	}
	return slices.MaxFunc(dirs, func(a, b string) int { return slices.Compare(version(a), version(b)) })
}

func hasPostgres(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// pgCluster is the run's throwaway PostgreSQL server: its own data folder in
// the run's temporary folder, listening on 127.0.0.1 and on a socket in that
// folder only.
type pgCluster struct {
	proc     *child
	port     int
	superURL string // the superuser, for creating and dropping databases
	sock     string // the directory of its Unix socket
	// tcp has the service connect over loopback TCP rather than the Unix
	// socket (see createDatabase).
	tcp      bool
	rolePW   string
	Version  string // "PostgreSQL 15.18 (…)"
	Settings string // the durability and size settings, as the server reports them
}

// pgMaxConnections leaves room, beyond the pools of two instances, for the
// harness's own connection and a few spare.
const pgMaxConnections = 2*pgPoolPerInstance + 16

// startPostgres initdbs a cluster in dir and starts it with the durability
// of a production server: fsync, synchronous_commit and full_page_writes
// on, which are the defaults, set explicitly so that no configuration file
// changes them. As root, the cluster runs as the postgres user (initdb and
// postgres refuse root), and the run's temporary folder above dir is made
// traversable for it.
func startPostgres(ctx context.Context, binDir, dir string) (*pgCluster, error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// Others may cross it but not list it.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			return nil, err
		}
	}
	sock := filepath.Join(dir, "sock")
	for _, d := range []string{dir, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	superPW, rolePW := randomHex(16), randomHex(16)
	pwFile := filepath.Join(dir, "superuser-password")
	if err := os.WriteFile(pwFile, []byte(superPW+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pwFile, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "HOME=" + dir}
	data := filepath.Join(dir, "data")
	// --no-sync only makes initdb itself quick: the server that is
	// measured runs with fsync on.
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwFile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env, initdb.Dir = env, dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	out, err := initdb.CombinedOutput()
	os.Remove(pwFile)
	if err != nil {
		return nil, fmt.Errorf("initdb: %w:\n%s", err, truncate(out, 2000))
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	argv := []string{filepath.Join(binDir, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=" + sock,
		"-c", fmt.Sprintf("max_connections=%d", pgMaxConnections),
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on",
	}
	// SIGINT is PostgreSQL's fast shutdown: it does not wait for clients.
	proc, err := startChildAs("postgres", argv, env, dir, filepath.Join(dir, "postgres.log"), cred, syscall.SIGINT)
	if err != nil {
		return nil, err
	}
	c := &pgCluster{proc: proc, port: port, rolePW: rolePW, sock: sock,
		superURL: fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", superPW, port)}
	if err := c.setUp(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// setUp waits for the server, creates the service's role and reads back
// what the run reports of the server.
func (c *pgCluster) setUp(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var conn *pgx.Conn
	for {
		var err error
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err = pgx.Connect(cctx, c.superURL)
		cancel()
		if err == nil {
			break
		}
		if c.proc.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("PostgreSQL did not start (%v); its log %s ends with:\n%s", err, c.proc.log, tail(c.proc.log, 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer conn.Close(context.Background())
	// The password is hex: quoting it literally is safe (CREATE ROLE takes
	// no parameters).
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgRole, c.rolePW)); err != nil {
		return fmt.Errorf("create role: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&c.Version); err != nil {
		return err
	}
	if v, _, ok := strings.Cut(c.Version, " on "); ok {
		c.Version = v
	}
	var settings []string
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers", "max_connections"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return err
		}
		settings = append(settings, name+" "+v)
	}
	c.Settings = strings.Join(settings, ", ")
	return nil
}

// createDatabase makes a fresh database owned by the service's role and
// returns the service's DATABASE_URL for it.
func (c *pgCluster) createDatabase(ctx context.Context, name string) (string, error) {
	if err := c.admin(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgx.Identifier{name}.Sanitize(), pgRole)); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	// The service reaches its co-located server over the Unix socket, as a
	// deployment on one host would. Over loopback TCP each write to
	// PostgreSQL also runs the receiving side's network stack in the
	// sender's system call, which a server on another host does not charge
	// to the service: about 60 µs a signature here (-pg-tcp measures it).
	if c.tcp {
		return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", pgRole, c.rolePW, c.port, name), nil
	}
	return fmt.Sprintf("postgres://%s:%s@/%s?host=%s&port=%d&sslmode=disable", pgRole, c.rolePW, name, c.sock, c.port), nil
}

// dropDatabase drops a set's database once its services have stopped, so
// that the next set starts from empty tables and the disk is freed.
func (c *pgCluster) dropDatabase(ctx context.Context, name string) error {
	return c.admin(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize())
}

func (c *pgCluster) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.superURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// cpu is the CPU time the whole cluster has used so far: the postmaster,
// the backends serving the service's connections, the WAL writer,
// checkpointer, autovacuum and the rest.
func (c *pgCluster) cpu() (time.Duration, error) { return readTreeCPU(c.proc.pid()) }

func (c *pgCluster) stop() error { return c.proc.stop(30 * time.Second) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
