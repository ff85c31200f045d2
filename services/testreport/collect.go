package testreport

// collector gathers the runs that the parsers close, in the order they
// close, and enforces MaxRecords across them.
type collector struct {
	runs   []Run
	kept   int // records kept, all runs together
	totals Counts
	// dropped counts the runs past MaxRuns: in the totals, not kept.
	dropped int
}

// runBuilder is one run being parsed: its records by ID, so that a test
// reported twice (a verbose line, then a failure header) is one record
// with the worst outcome, and its tally of top-level records.
type runBuilder struct {
	c     *collector
	run   Run
	index map[string]int // key(Suite, ID) -> index in run.Records
	tally Counts         // top-level records by outcome, kept or not
	// dropped remembers the top-level outcome of dropped records, so a
	// later worse report of one still moves the tally.
	dropped map[string]Outcome
}

func (c *collector) start(f Format, suite string) *runBuilder {
	return &runBuilder{c: c, run: Run{Format: f, Suite: clean(suite, MaxIDBytes)}}
}

// add records a test, or raises the outcome of one already recorded, and
// returns its index in Records (-1 if it was dropped). A failing subtest
// also marks its parent, which is added when missing.
func (b *runBuilder) add(r Record) int {
	r.ID = clean(r.ID, MaxIDBytes)
	r.Parent = clean(r.Parent, MaxIDBytes)
	r.Suite = clean(r.Suite, MaxIDBytes)
	if r.ID == "" {
		return -1
	}
	if r.Parent != "" && r.Outcome.severity() >= Failed.severity() {
		b.raise(r.Parent, r.Suite, Failed)
	}
	k := key(r.Suite, r.ID)
	if i, ok := b.index[k]; ok {
		old := &b.run.Records[i]
		if r.Outcome.severity() > old.Outcome.severity() {
			if old.Parent == "" {
				b.tally.tally(old.Outcome, -1)
				b.tally.tally(r.Outcome, 1)
			}
			old.Outcome = r.Outcome
		}
		if old.Message == "" {
			old.Message = r.Message
		}
		if old.Duration == NoDuration {
			old.Duration = r.Duration
		}
		return i
	}
	if o, ok := b.dropped[k]; ok {
		if r.Parent == "" && r.Outcome.severity() > o.severity() {
			b.tally.tally(o, -1)
			b.tally.tally(r.Outcome, 1)
			b.dropped[k] = r.Outcome
		}
		return -1
	}
	if r.Parent == "" {
		b.tally.tally(r.Outcome, 1)
	}
	if b.c.kept >= MaxRecords {
		if b.dropped == nil {
			b.dropped = make(map[string]Outcome)
		}
		// The map is bounded like the records: past it a test reported
		// twice may be counted twice, which only a suite of more than
		// twice MaxRecords tests can cause.
		if len(b.dropped) < MaxRecords {
			b.dropped[k] = r.Outcome
		}
		b.run.Dropped++
		return -1
	}
	if b.index == nil {
		b.index = make(map[string]int)
	}
	b.c.kept++
	b.index[k] = len(b.run.Records)
	b.run.Records = append(b.run.Records, r)
	return len(b.run.Records) - 1
}

// raise marks a test as at least o, adding it if missing.
func (b *runBuilder) raise(id, suite string, o Outcome) {
	b.add(Record{ID: id, Suite: suite, Outcome: o, Duration: NoDuration})
}

// key identifies a record in a run: two suites may hold tests of one
// name (TestMain in two Go packages of one JUnit file).
// A cleaned ID holds no NUL, so an ID alone never equals a suite's key.
func key(suite, id string) string {
	if suite == "" {
		return id
	}
	return suite + "\x00" + id
}

// lookup returns the index of the record with this suite and ID.
func (b *runBuilder) lookup(suite, id string) (int, bool) {
	i, ok := b.index[key(clean(suite, MaxIDBytes), clean(id, MaxIDBytes))]
	return i, ok
}

// setMessage sets the message of record i if it has none.
func (b *runBuilder) setMessage(i int, m string) {
	if i >= 0 && b.run.Records[i].Message == "" {
		b.run.Records[i].Message = m
	}
}

// empty reports whether the run has neither records nor counts.
func (b *runBuilder) empty() bool {
	return len(b.run.Records) == 0 && b.run.Dropped == 0
}

// finish closes the run with the tool's own counts, or with the tally of
// its top-level records when counts is nil.
func (b *runBuilder) finish(counts *Counts) {
	if counts != nil {
		b.run.Counts = *counts
	} else {
		b.run.Counts = b.tally
	}
	b.c.totals = b.c.totals.add(b.run.Counts)
	if len(b.c.runs) >= MaxRuns {
		b.c.dropped++
		b.c.kept -= len(b.run.Records)
		return
	}
	b.c.runs = append(b.c.runs, b.run)
}

func (c *collector) report() *Report {
	return &Report{Runs: c.runs, Totals: c.totals, DroppedRuns: c.dropped}
}
