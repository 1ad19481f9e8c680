// Package dbtest gives the tests of any package a fresh PostgreSQL database, so that what
// runs against SQLite by default also runs against a real PostgreSQL server.
//
// The server is named by WXAVATAR_TEST_POSTGRES, a postgres:// url of a role that may create
// databases (.ci/postgres.sh starts one and prints it). Without it the PostgreSQL tests skip
// with one line, except under CI (CI set), where they fail: CI must not pass by skipping.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test server's url.
const EnvURL = "WXAVATAR_TEST_POSTGRES"

// PostgresURL creates an empty database on the test server and returns its url, for db.Open.
// The database is dropped when the test ends (after cleanups registered later, such as
// closing the handle, have run). Neither the url nor the password ever appears in the output.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL tests cannot run: CI is set but " + EnvURL + " is not (eval the last line of .ci/postgres.sh)")
		}
		t.Skip("PostgreSQL tests skipped: set " + EnvURL + "=postgres://… (CI sets it)")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal(EnvURL + " must be a postgres://user:password@host:port/database url")
	}

	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "wxt_" + hex.EncodeToString(b[:])
	// Identifiers are safe: name is only lower-case hex after a fixed prefix.
	if err := admin(base, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(base, name); err != nil {
			t.Error(err)
		}
	})

	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// drop drops the database once the test's own connections are closed. A
// plain DROP DATABASE makes an autovacuum worker on it leave, where WITH
// (FORCE) would refuse to terminate that worker (it belongs to another
// role, SQLSTATE 42501); FORCE is for connections a test left open, and a
// worker that starts in between is waited out.
func drop(base, name string) error {
	var err error
	for attempt := range 10 {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		if err = admin(base, "DROP DATABASE IF EXISTS "+name); err == nil {
			return nil
		}
		if err = admin(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err == nil {
			return nil
		}
	}
	return err
}

// admin runs one statement on the maintenance database named by the base url.
func admin(base, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		// pgx's connect errors name the user, database and host, not the password.
		return fmt.Errorf("dbtest: connect to the %s server: %w", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("dbtest: %s: %w", stmt, err)
	}
	return nil
}
