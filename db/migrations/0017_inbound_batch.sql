-- Several webhook alerts in one statement, so one commit (one WAL flush, one round trip) for
-- all of them: the webhook sends the alerts that arrive while earlier writes are in flight
-- together (signals/record_batch.ts). Each element of p_alerts is one call of
-- record_inbound_decision (migration 0009), made in order, so an element sees the keys the
-- elements before it claimed: a key given twice in one batch is a duplicate, as in two calls.
-- The deadline trigger of migration 0009 still checks every row at commit: one late alert
-- rolls the whole batch back, and the caller then sends the others one by one.
create function record_inbound_decisions(p_alerts jsonb)
returns table (ord int, id bigint, status text, first_id bigint, error text)
language plpgsql as $$
declare
  a record;
  r record;
begin
  for a in
    select t.ord::int as n, x.*
      from jsonb_array_elements(p_alerts) with ordinality as t(v, ord),
           jsonb_to_record(t.v) as x(source text, key text, hash text, raw_body text,
             payload jsonb, remote_addr text, decision jsonb, line_no int, dedupe_day text,
             strategy text, strategy_version text, received_at timestamptz,
             accept_by timestamptz)
     order by t.ord
  loop
    select * into r from record_inbound_decision(a.source, a.key, a.hash, a.raw_body,
      a.payload, a.remote_addr, a.decision, a.line_no, a.dedupe_day, a.strategy,
      a.strategy_version, a.received_at, a.accept_by);
    ord := a.n;
    id := r.id;
    status := r.status;
    first_id := r.first_id;
    error := r.error;
    return next;
  end loop;
end $$;
