//go:build !race

package driver_test

// raceEnabled says the tests run under the race detector, which makes
// bcrypt about ten times slower.
const raceEnabled = false
