-- When the polled alerts file (PULL_ALERTS_URL) was last read in full, by the SHA-256 of its URL
-- (a secret). A line first seen after that read was written after it: so after a downtime or
-- a file that could not be read for a while, a line without its own `ts` may be as old as the
-- gap, and an entry from it is refused instead of traded as fresh (signals/pull.ts).
create table pull_reads (
  url_hash text primary key,
  read_at timestamptz not null
);
