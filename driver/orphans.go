package driver

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// orphanAge is how old a partial upload must be to be removed at start:
// younger ones may belong to another ftpsd serving the same root.
const orphanAge = 24 * time.Hour

// removeOrphanUploads walks root once and removes the partial uploads
// (regular files named like uploadPrefix) a crashed server left behind
// that are older than orphanAge, logging each. Symbolic links are not
// followed; what cannot be read is logged and skipped.
func removeOrphanUploads(root string, now time.Time, logger *zap.Logger) {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			logger.Warn("look for orphaned uploads", zap.String("path", p), zap.Error(err))
			return nil // skip what cannot be read, go on with the rest
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), uploadPrefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil || now.Sub(info.ModTime()) < orphanAge {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("remove orphaned upload", zap.String("path", p), zap.Error(err))
			return nil
		}
		logger.Info("removed orphaned upload", zap.String("path", p),
			zap.Int64("bytes", info.Size()), zap.Time("modified", info.ModTime()))
		return nil
	})
	if err != nil {
		logger.Warn("look for orphaned uploads", zap.String("root", root), zap.Error(err))
	}
}
