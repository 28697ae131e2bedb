-- record_inbound_decisions (migration 0017) as one set-based statement: the alerts of a batch
-- are inserted by one INSERT and their keys claimed by another, instead of one call of
-- record_inbound_decision per alert, whose five statements each paid the executor's start-up
-- (at the webhook's rates that per-statement work cost PostgreSQL ~3× the row work).
--
-- The same outcome as the calls in order:
-- - an alert whose strategy row is no longer the version it was mapped with is STALE (nothing
--   written for it, no key claimed);
-- - the first alert of the batch with a key claims it, unless the key was claimed before; a
--   later alert of the batch with that key is a DUPLICATE (same hash) or REJECTED (another
--   hash) of the first, like one claimed before the batch; a REJECTED one sends the WARN of
--   record_inbound_decision;
-- - the status is settled in the insert itself, so no session ever sees a duplicate as
--   RECEIVED, and a duplicate is one row version, not an insert and an update.
-- The ids are drawn before the rows are written, so a key's row names its alert in the same
-- statement (the foreign key is checked at the statement's end). Keys are claimed in key order:
-- two batches sharing keys wait for each other in one order rather than deadlock. The deadline
-- trigger of migration 0009 still checks every row at commit.
create or replace function record_inbound_decisions(p_alerts jsonb)
returns table (ord int, id bigint, status text, first_id bigint, error text)
language plpgsql as $$
#variable_conflict use_column
begin
  return query
  with a as (
    select x.*, s.name is null as stale
      from rows from (jsonb_to_recordset(p_alerts) as (source text, key text, hash text,
             raw_body text, payload jsonb, remote_addr text, decision jsonb, line_no int,
             dedupe_day text, strategy text, strategy_version text,
             received_at timestamptz, accept_by timestamptz)) with ordinality
           as x(source, key, hash, raw_body, payload, remote_addr, decision, line_no,
             dedupe_day, strategy, strategy_version, received_at, accept_by, n)
      left join strategies s on s.name = x.strategy and s.xmin::text = x.strategy_version
  ),
  -- Ids in the order the alerts came (PostgreSQL evaluates a volatile output column after the
  -- ORDER BY), so the alerts of a batch are executed in that order, as one by one.
  fresh as materialized (
    select a.*, row_number() over (partition by a.key order by a.n) as nth,
           nextval('inbound_alerts_id_seq') as new_id
      from a
     where not a.stale
     order by a.n
  ),
  -- DO UPDATE (a no-op) rather than DO NOTHING: it returns the existing key's row even when a
  -- concurrent batch committed it after this statement's snapshot was taken.
  k as (
    insert into inbound_dedupe_keys as d (idempotency_key, payload_hash, alert_id)
    select f.key, f.hash, f.new_id from fresh f where f.nth = 1 order by f.key
    on conflict (idempotency_key) do update set idempotency_key = d.idempotency_key
    returning d.idempotency_key, d.alert_id, d.payload_hash
  ),
  settled as (
    select f.*, k.alert_id as first,
           case when k.alert_id = f.new_id then 'RECEIVED'
                when k.payload_hash = f.hash then 'DUPLICATE'
                else 'REJECTED' end as st
      from fresh f join k on k.idempotency_key = f.key
  ),
  told as (
    select s.*,
           case s.st
             when 'DUPLICATE' then 'Duplicate of alert ' || s.first
             when 'REJECTED' then format('Idempotency key "%s" was already used by alert %s '
               || 'with a different payload; send a new key for a new trade', s.key, s.first)
           end as err
      from settled s
  ),
  stored as (
    insert into inbound_alerts (id, source, idempotency_key, payload_hash, raw_body, payload,
      remote_addr, status, error, decision, line_no, processed_at, received_at, accept_by)
    overriding system value
    select t.new_id, t.source, t.key, t.hash, t.raw_body, t.payload, t.remote_addr, t.st,
           t.err, t.decision, t.line_no, case when t.st <> 'RECEIVED' then now() end,
           coalesce(t.received_at, now()), t.accept_by
      from told t
     order by t.new_id
  )
  select t.n::int, t.new_id, t.st, t.first, t.err
    from told t
   -- (A CASE, so the WARN is sent for the REJECTED ones only, whatever the planner does.)
   where case when t.st = 'REJECTED'
           then enqueue_notification('WARN', 'inbound_refused',
             format('Inbound %s alert %s refused: %s', t.source, t.new_id, t.err),
             'inbound-refused:' || t.dedupe_day || ':' || md5(t.err)) >= 0
           else true end
  union all
  select a.n::int, null::bigint, 'STALE'::text, null::bigint, null::text
    from a
   where a.stale;
end $$;

-- The foreign key from a dedupe key to its alert is checked by a query per key (~20 µs of the
-- ~100 µs an alert's write costs PostgreSQL). What it guarded holds without it: a key is only
-- written by the statement above, together with the alert it names (by an id drawn for that
-- alert), in one transaction; the keys are immutable (migration 0008); and an alert is never
-- removed, which the triggers below now refuse outright (the app role has no DELETE either).
alter table inbound_dedupe_keys drop constraint inbound_dedupe_keys_alert_id_fkey;

create function refuse_alert_removal() returns trigger
language plpgsql as $$
begin
  raise exception 'inbound_alerts rows are kept for ever (a dedupe key names each): % is refused',
    tg_op using errcode = 'restrict_violation';
end $$;

create trigger inbound_alerts_no_delete before delete on inbound_alerts
  for each row execute function refuse_alert_removal();
create trigger inbound_alerts_no_truncate before truncate on inbound_alerts
  for each statement execute function refuse_alert_removal();
