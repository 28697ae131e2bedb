-- A webhook write carries its own deadline (accept_by) into the database: a deferred
-- constraint trigger refuses the commit once clock_timestamp() is past it. So a write the
-- webhook stopped waiting for (it answered 503) and that reaches PostgreSQL late, e.g. queued
-- in the pool during an outage or blocked on a lock, is rolled back instead of stored and
-- traded. The HTTP arrival time is passed in as received_at, so freshness rules see the real
-- age of an alert, not the time it reached the database.
alter table inbound_alerts add column accept_by timestamptz;

create function refuse_late_inbound_alert() returns trigger
language plpgsql as $$
begin
  if clock_timestamp() > new.accept_by then
    raise exception 'The alert reached the database after its deadline (%); not stored',
      new.accept_by using errcode = 'PSL01';
  end if;
  return null;
end $$;

-- Deferred, so it runs at commit: after every other statement of the transaction.
create constraint trigger inbound_alerts_accept_by after insert on inbound_alerts
  deferrable initially deferred for each row when (new.accept_by is not null)
  execute function refuse_late_inbound_alert();

drop function record_inbound_decision(text, text, text, text, jsonb, text, jsonb, int, text,
  text, text);

create function record_inbound_decision(
  p_source text, p_key text, p_hash text, p_raw_body text, p_payload jsonb, p_remote_addr text,
  p_decision jsonb, p_line_no int, p_dedupe_day text, p_strategy text, p_strategy_version text,
  p_received_at timestamptz, p_accept_by timestamptz)
returns table (id bigint, status text, first_id bigint, error text)
language plpgsql as $$
declare
  v_id bigint;
  v_first bigint;
  v_hash text;
  v_status text := 'RECEIVED';
  v_error text;
begin
  if not exists (select 1 from strategies s
                  where s.name = p_strategy and s.xmin::text = p_strategy_version) then
    return query select null::bigint, 'STALE'::text, null::bigint, null::text;
    return;
  end if;

  insert into inbound_alerts as a (source, idempotency_key, payload_hash, raw_body, payload,
    remote_addr, status, decision, line_no, received_at, accept_by)
  values (p_source, p_key, p_hash, p_raw_body, p_payload, p_remote_addr, 'RECEIVED',
    p_decision, p_line_no, coalesce(p_received_at, now()), p_accept_by)
  returning a.id into v_id;

  -- DO UPDATE (a no-op) rather than DO NOTHING: it returns the existing key's row even when a
  -- concurrent request committed it after this statement's snapshot was taken.
  insert into inbound_dedupe_keys as d (idempotency_key, payload_hash, alert_id)
  values (p_key, p_hash, v_id)
  on conflict (idempotency_key) do update set idempotency_key = d.idempotency_key
  returning d.alert_id, d.payload_hash into v_first, v_hash;

  if v_first <> v_id then
    if v_hash = p_hash then
      v_status := 'DUPLICATE';
      v_error := 'Duplicate of alert ' || v_first;
    else
      v_status := 'REJECTED';
      v_error := format('Idempotency key "%s" was already used by alert %s with a different '
        || 'payload; send a new key for a new trade', p_key, v_first);
      perform enqueue_notification('WARN', 'inbound_refused',
        format('Inbound %s alert %s refused: %s', p_source, v_id, v_error),
        'inbound-refused:' || p_dedupe_day || ':' || md5(v_error));
    end if;
    update inbound_alerts a set status = v_status, error = v_error, processed_at = now()
     where a.id = v_id;
  end if;
  return query select v_id, v_status, v_first, v_error;
end $$;
