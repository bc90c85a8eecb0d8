//go:build race

package main

// The race detector slows the producer about tenfold: TestQuick shrinks.
const raceEnabled = true
