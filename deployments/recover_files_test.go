package deployments

import (
	"context"
	"os"
	"testing"
)

// TestRecoverFilesKeepsTheJournalUntilForgotten (issue 12 defect 6): recovering an
// interrupted deploy's files keeps its journal and backup — what the deploy did to
// images and containers may not be back yet, and a crash now must not lose the
// record — until Forget; recovering again in between restores nothing twice.
func TestRecoverFilesKeepsTheJournalUntilForgotten(t *testing.T) {
	f := newFixture(t)
	changedTree(t, f)
	ctx := context.Background()
	before := treeState(t, f.prod)
	d, err := f.e.Begin(ctx, "interrupted", f.plan())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Note(ctx, "containers", "swapped"); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}

	for start := 1; start <= 2; start++ {
		f.open()
		recs, err := f.e.RecoverFiles(ctx)
		if err != nil {
			t.Fatalf("start %d: %v", start, err)
		}
		if len(recs) != 1 || recs[0].DeployID != "interrupted" || recs[0].Notes["containers"] != "swapped" {
			t.Fatalf("start %d recovered %+v, want the interrupted deploy with its note", start, recs)
		}
		if diff := diffStates(before, treeState(t, f.prod)); diff != "" {
			t.Errorf("start %d: production not restored:\n%s", start, diff)
		}
		if js, _ := f.db.Journals(ctx); len(js) != 1 {
			t.Errorf("start %d: journals %+v, want the deploy's kept until Forget", start, js)
		}
		if _, err := os.Stat(f.e.backupDir("shop", "interrupted")); err != nil {
			t.Errorf("start %d: the backup is gone before Forget: %v", start, err)
		}
	}
	recs, _ := f.e.RecoverFiles(ctx)
	if err := f.e.Forget(ctx, recs[0]); err != nil {
		t.Fatal(err)
	}
	assertNoDeployLeft(t, f)
	if _, err := os.Stat(f.e.backupDir("shop", "interrupted")); !os.IsNotExist(err) {
		t.Errorf("backup after Forget: %v, want it removed", err)
	}
	if recs, err := f.e.RecoverFiles(ctx); err != nil || len(recs) != 0 {
		t.Errorf("recover after Forget = %+v, %v; want nothing to do", recs, err)
	}
}
