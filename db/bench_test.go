package db

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/wxavatar/wxavatar/avatar"
)

const benchUsers = 200

// benchDB is a SQLite file with benchUsers users, u000 onwards.
func benchDB(b *testing.B) *DB {
	b.Helper()
	d, err := Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	for i := range benchUsers {
		if _, err := d.UpsertUser(context.Background(), avatar.User{ID: fmt.Sprintf("u%03d", i), OpenID: fmt.Sprintf("o%03d", i)}, t0); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// BenchmarkCreateUpload: concurrent signature issuing against a SQLite file,
// as the service does it (group commit), with many users.
func BenchmarkCreateUpload(b *testing.B) {
	d := benchDB(b)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			u := testUpload(fmt.Sprintf("u%03d", i%benchUsers), fmt.Sprintf("%026d", i))
			if err := d.CreateUpload(context.Background(), u, 0, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConfirmUpload: concurrent confirms, each of its own upload.
func BenchmarkConfirmUpload(b *testing.B) {
	d := benchDB(b)
	for i := range b.N {
		u := testUpload(fmt.Sprintf("u%03d", i%benchUsers), fmt.Sprintf("%026d", i))
		if err := d.CreateUpload(context.Background(), u, 0, t0); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) - 1
			if _, _, err := d.ConfirmUpload(context.Background(), fmt.Sprintf("u%03d", i%benchUsers), fmt.Sprintf("%026d", i), 10, avatar.ReviewPlan{}, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
