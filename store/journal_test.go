package store

import (
	"context"
	"testing"
)

func TestJournalPutReplaceDelete(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)

	if got, err := db.Journals(ctx); err != nil || len(got) != 0 {
		t.Fatalf("journals of a new database: %v, %v; want none", got, err)
	}
	if err := db.PutJournal(ctx, "d1", "shop", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.PutJournal(ctx, "d2", "blog", []byte(`{"b":2}`)); err != nil {
		t.Fatal(err)
	}
	first, err := db.Journals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutJournal(ctx, "d1", "shop", []byte(`{"a":3}`)); err != nil {
		t.Fatal(err)
	}

	got, err := db.Journals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d journals, want 2: %+v", len(got), got)
	}
	if got[0].DeployID != "d1" || got[0].Project != "shop" || string(got[0].Data) != `{"a":3}` {
		t.Errorf("first journal %+v; want d1 of shop with the replaced data", got[0])
	}
	if !got[0].CreatedAt.Equal(first[0].CreatedAt) {
		t.Errorf("replacing the data moved created_at from %v to %v", first[0].CreatedAt, got[0].CreatedAt)
	}
	if got[1].DeployID != "d2" || string(got[1].Data) != `{"b":2}` {
		t.Errorf("second journal %+v; want d2", got[1])
	}

	for range 2 { // the second delete finds nothing and is not an error
		if err := db.DeleteJournal(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
	}
	got, err = db.Journals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DeployID != "d2" {
		t.Errorf("after delete: %+v; want only d2", got)
	}
}
