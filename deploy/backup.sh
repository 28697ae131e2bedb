#!/usr/bin/env bash
# Daily logical backup of the server database: a custom-format pg_dump, kept for 14 days.
# Point-in-time recovery additionally needs WAL archiving (archive_mode=on, archive_command),
# as in deploy/docker-compose.yml. Usage: DATABASE_URL=… deploy/backup.sh [/backups]
set -euo pipefail
. "$(dirname "$0")/pg_env.sh"
dir="${1:-/var/backups/pg-solo-lite}"
mkdir -p "$dir"
file="$dir/pgsl-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --file="$file.part" "$PGURL"
mv "$file.part" "$file"
find "$dir" -name 'pgsl-*.dump' -mtime +14 -delete
echo "backup written: $file"
