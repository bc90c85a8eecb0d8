package coupatest

import (
	"math/rand/v2"
	"time"
)

// Churn plays a busy instance until stop is closed: every pace it updates a
// record, inserts a few, makes a late-visible write (up to a minute in the
// past, inside a usual lookback), and now and then bulk-edits 120 records of
// tables[0] in one second and expires every token. With Config.Deletes it
// also deletes a record every seventh step (never a table's last one). With
// Config.LineChanges it also changes the lines of a record every tenth step
// (ChangeLines), in one of the given tables that have a line list resource.
// Mid-way it adds Config.ChurnCustomFields new custom fields (one by
// default) to the headers of tables it churns (AddCustomField): the first
// after 8 to 15 steps, the next every 16 steps, of kinds cycling through
// CustomFieldKinds; the tables, kinds and keys follow Config.Seed, and the
// keys are new to the table (never a kind change).
// Any catalog tables may churn, whatever their path or Mode; on
// budget_lines most updates keep the updated-at (see Update), and an
// empty table only gets inserts. Tests run it while a sync runs, then
// compare the topics with Truth once it has stopped.
func (s *Server) Churn(stop <-chan struct{}, pace time.Duration, tables ...string) {
	rng := rand.New(rand.NewPCG(1, 2))
	// randomID picks a live record; 0 (no record has it) when there is
	// none, which every mutation refuses harmlessly.
	randomID := func(table string) int64 {
		states := s.States(table)
		if len(states) == 0 {
			return 0
		}
		return states[rng.IntN(len(states))].ID
	}
	var lined []string // the tables whose lines can change on their own
	for _, table := range tables {
		if s.cfg.LineChanges && s.table(table).meta.LineList != "" {
			lined = append(lined, table)
		}
	}
	customAt := 8 + int(mix(uint64(s.cfg.Seed)^saltOf("churn/custom/at"))%8)
	customAdded := 0
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(pace):
		}
		if customAdded < s.cfg.ChurnCustomFields && i >= customAt && (i-customAt)%16 == 0 {
			s.churnCustomField(tables, customAdded)
			customAdded++
		}
		table := tables[rng.IntN(len(tables))]
		if s.cfg.Deletes && i%7 == 3 && s.Count(table) > 1 {
			_ = s.Delete(table, randomID(table))
		}
		if len(lined) > 0 && i%10 == 1 {
			if lt := lined[rng.IntN(len(lined))]; s.Count(lt) > 0 {
				_, _ = s.ChangeLines(lt, randomID(lt))
			}
		}
		switch i % 10 {
		case 0, 1, 2, 3:
			s.Update(table, randomID(table))
		case 4, 5:
			s.Insert(table, 1+rng.IntN(3))
		case 6:
			if i%40 == 6 {
				s.BulkUpdate(tables[0], 120)
			}
		case 7, 8:
			s.LateWrite(table, randomID(table), time.Duration(5+rng.IntN(60))*time.Second)
		case 9:
			if i%30 == 9 {
				// Five seconds, not one: under a loaded test machine
				// a token can wait over a second between its minting
				// and its first use, and expiring it then is no
				// behaviour of Coupa's (its tokens live a day).
				s.ExpireTokensOlderThan(5 * time.Second)
			}
		}
	}
}
