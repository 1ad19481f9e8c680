package main

import "testing"

// TestMemoryLimit: the soft limit leaves the default decodes their room, and
// grows with what an operator lets confirm decode.
func TestMemoryLimit(t *testing.T) {
	cfg, err := load(t, false, prodEnv())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := memoryLimit(cfg), int64(20<<20+2*(5<<20+4*16_000_000)); got != want {
		t.Errorf("default memory limit %d; want %d (20 MiB and two decodes of 5 MiB and 16 MP)", got, want)
	}
	cfg.ImageWorkers = 4
	if got, want := memoryLimit(cfg), int64(20<<20+4*(5<<20+4*16_000_000)); got != want {
		t.Errorf("memory limit with 4 workers %d; want %d", got, want)
	}
}
