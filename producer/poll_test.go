package producer

import (
	"errors"
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	p := newPacer(Poll{Min: 2 * time.Second, Max: 30 * time.Second})
	p.rand = func() float64 { return 0.5 } // no jitter
	steps := []struct {
		changes int
		err     error
		want    time.Duration
	}{
		{0, nil, 4 * time.Second}, // idle: doubles from Min
		{0, nil, 8 * time.Second},
		{0, nil, 16 * time.Second},
		{0, nil, 30 * time.Second}, // capped at Max
		{0, nil, 30 * time.Second},
		{3, nil, 2 * time.Second}, // changes: back to Min
		{1, nil, 2 * time.Second},
		{0, errors.New("down"), 30 * time.Second}, // a failure waits Max
		{5, nil, 2 * time.Second},
	}
	for i, s := range steps {
		if got := p.next(s.changes, s.err); got != s.want {
			t.Errorf("step %d (changes %d, err %v): pause %v, want %v", i, s.changes, s.err, got, s.want)
		}
	}
	for _, r := range []float64{0, 0.999} {
		p.rand = func() float64 { return r }
		p.interval = 10 * time.Second
		got := p.next(0, nil)
		if got < 18*time.Second || got > 22*time.Second {
			t.Errorf("jitter %v: pause %v, want 20s ±10%%", r, got)
		}
	}
}

func TestPollDefaults(t *testing.T) {
	var p Poll
	if err := p.defaults(); err != nil || p.Min != DefaultPollMin || p.Max != DefaultPollMax || p.Budget != DefaultPollBudget {
		t.Fatalf("defaults %+v %v", p, err)
	}
	bad := Poll{Min: time.Minute, Max: time.Second}
	if err := bad.defaults(); err == nil {
		t.Error("a floor above the ceiling was accepted")
	}
}
