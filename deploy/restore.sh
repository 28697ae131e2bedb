#!/usr/bin/env bash
# Restores a dump made by backup.sh into an EMPTY database, then checks it. Stop the service
# first. For point-in-time recovery restore the base backup and replay the WAL archive with
# PostgreSQL's recovery settings (restore_command, recovery_target_time) instead.
# After a restore, PENDING outbox rows are sent again: each is sent at most once more (its
# dedupe_key is unique), so the operator may see one repeat of messages that were in flight.
# Usage: DATABASE_URL=… deploy/restore.sh FILE.dump
set -euo pipefail
. "$(dirname "$0")/pg_env.sh"
file="${1:?usage: restore.sh FILE.dump}"
pg_restore --no-owner --exit-on-error --dbname="$PGURL" "$file"
psql "$PGURL" -Atc "select 'schema version ' || max(version) from schema_migrations"
psql "$PGURL" -Atc "select 'pending notifications ' || count(*) from notification_outbox where status = 'PENDING'"
echo "restored; start the service and run: pg-solo-lite doctor"
