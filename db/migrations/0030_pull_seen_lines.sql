-- The lines of the polled alerts file (PULL_ALERTS_URL) already submitted, by the SHA-256 of
-- their text. Kept in memory only, a restart submitted every old line again: an accepted one as
-- a DUPLICATE row per restart, and a refused one evaluated again, so an old line without `ts`
-- whose strategy had been added since was accepted late. A line is submitted once, ever
-- (signals/pull.ts).
create table pull_seen_lines (
  line_hash text primary key,
  first_seen_at timestamptz not null default now()
);
