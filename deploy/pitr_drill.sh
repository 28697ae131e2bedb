#!/usr/bin/env bash
# Recovery drill (and the real recovery): restores a base backup into a NEW directory and
# replays archived WAL up to a target time, on its own port, then promotes it. The original
# cluster is never touched. Run as the PostgreSQL user (initdb/pg_ctl refuse root).
# Usage: deploy/pitr_drill.sh BASE_DIR WAL_ARCHIVE "2026-12-02 14:05:00+00" NEW_PGDATA [PORT]
# Then check it: psql -h 127.0.0.1 -p PORT -c 'select max(created_at) from transactions'
set -euo pipefail
base="${1:?base backup dir}"; archive="${2:?WAL archive dir}"; target="${3:?target time}"
pgdata="${4:?new data dir}"; port="${5:-5499}"
bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
[ ! -e "$pgdata" ] || { echo "pitr_drill: $pgdata exists; give a new directory" >&2; exit 1; }
mkdir -p "$pgdata"; chmod 700 "$pgdata"
tar -xzf "$base/base.tar.gz" -C "$pgdata"
[ ! -f "$base/pg_wal.tar.gz" ] || tar -xzf "$base/pg_wal.tar.gz" -C "$pgdata/pg_wal"
cat >> "$pgdata/postgresql.auto.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pgdata'
archive_mode = off
restore_command = 'cp "$archive/%f" "%p"'
recovery_target_time = '$target'
recovery_target_action = 'promote'
CONF
touch "$pgdata/recovery.signal"
"$bin/pg_ctl" -D "$pgdata" -l "$pgdata/recovery.log" -w -t 120 start
for _ in $(seq 1 120); do
  state="$("$bin/psql" -h 127.0.0.1 -p "$port" -U "${PGUSER:-postgres}" -d postgres -Atc 'select pg_is_in_recovery()' 2>/dev/null || true)"
  [ "$state" = f ] && { echo "recovered to $target: running on port $port ($pgdata)"; exit 0; }
  sleep 1
done
echo "pitr_drill: still in recovery after 120 s; see $pgdata/recovery.log" >&2
exit 1
