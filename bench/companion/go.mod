// Not Go: this folder is the benchmark's Node.js peer (Uppy Companion). This
// file makes it a module of its own, so that ./... patterns (go vet,
// staticcheck, go test) never walk into node_modules.
module wxavatar.invalid/bench/companion

go 1.26
