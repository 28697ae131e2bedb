#!/usr/bin/env bash
# archive_command for point-in-time recovery: copies one WAL segment into an archive that must
# be on another disk than the database (a disk failure must not take the data and its WAL).
#   archive_command = '/opt/pg-solo-lite/deploy/archive_wal.sh %p %f /mnt/wal-archive'
# Exits non-zero (PostgreSQL keeps the segment and retries) when the copy fails, when a segment
# of that name with other content is already archived, or when the archive shares the data's
# disk (set ALLOW_SAME_DISK=1 only for drills).
set -euo pipefail
src="$1"; name="$2"; dest="${3:-${WAL_ARCHIVE_DIR:?set the archive directory}}"
if [ "${ALLOW_SAME_DISK:-0}" != 1 ] && [ "$(stat -c %d "$src")" = "$(stat -c %d "$dest")" ]; then
  echo "archive_wal: $dest is on the database's own disk; use another disk" >&2
  exit 1
fi
if [ -e "$dest/$name" ]; then
  cmp -s "$src" "$dest/$name" && exit 0
  echo "archive_wal: $dest/$name exists with other content" >&2
  exit 1
fi
cp "$src" "$dest/$name.tmp"
sync "$dest/$name.tmp"
mv "$dest/$name.tmp" "$dest/$name"
