package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RefusedAlertChatsIn reads the chats Telegram refused alerts in (see
// RefusedAlertChats) from the database in dir without changing anything: no
// directory or file is made and no migration runs, so that `scar check` can report
// them. A state directory without a database, or with one from before alerts, has
// none.
func RefusedAlertChatsIn(ctx context.Context, dir string) (map[int64]time.Time, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	sqldb, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("store: open %s read-only: %w", path, err)
	}
	defer sqldb.Close()
	db := &DB{db: sqldb}
	chats, err := db.RefusedAlertChats(ctx)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return nil, nil
	}
	return chats, err
}
