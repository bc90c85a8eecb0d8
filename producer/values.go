package producer

// values is the content hash (schemas.Table.ContentHash) of the value last
// published for each id of a table: what the whole table topic holds,
// rebuilt by restore. Tables keep
// it when they must tell a changed record from one published already whatever
// its updated_at says: a parent read again because its lines changed on
// their own (lineWatch), and every record of a full refresh table, whose
// updated_at is missing or untrustworthy.
type values map[int64]uint64

// needsValues reports whether ts keeps values.
func (ts *tableSync) needsValues() bool {
	return ts.lineWatch != nil || ts.refreshes()
}

// has reports whether id's last published value has this hash. A nil
// values has nothing.
func (v values) has(id int64, hash uint64) bool {
	h, ok := v[id]
	return ok && h == hash
}

// committed remembers the values a commit published.
func (v values) committed(recs []pending) {
	if v == nil {
		return
	}
	for _, r := range recs {
		v[r.id] = r.hash
	}
}
