//go:build !race

package main

// raceEnabled is true when the tests run under the race detector, which slows
// everything down: load tests shorten their run.
const raceEnabled = false
