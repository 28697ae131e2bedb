#!/usr/bin/env bash
# Physical base backup for point-in-time recovery (the start point WAL is replayed onto; a
# pg_dump cannot be). Weekly is typical; keep base backups until the WAL after them is no
# longer needed. Needs a role with REPLICATION (or a superuser).
# Usage: DATABASE_URL=… deploy/base_backup.sh /mnt/backups/base
set -euo pipefail
. "$(dirname "$0")/pg_env.sh"
root="${1:?usage: base_backup.sh DIR}"
dest="$root/base-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$root"
pg_basebackup --dbname="$PGURL" --pgdata="$dest.part" --format=tar --gzip \
  --wal-method=fetch --checkpoint=fast
mv "$dest.part" "$dest"
echo "base backup written: $dest"
