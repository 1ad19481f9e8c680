package avatar

// What the external tests (package avatar_test, which may import db) need
// of the package's insides.
const SweepLease = sweepLease
