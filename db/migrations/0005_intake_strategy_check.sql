-- The strategy check of an accepted decision moves into its write, saving one query and one
-- round trip per alert. The intake maps a decision with a copy of the strategy row and passes
-- that row's version (xmin); the insert happens only if the row is still that version in the
-- statement's snapshot, otherwise nothing is written, STALE is returned and the intake reads
-- the row again. So a copy never lets a disabled or changed strategy accept an alert.
drop function record_inbound_decision(text, text, text, text, jsonb, text, jsonb, int, text);

create function record_inbound_decision(
  p_source text, p_key text, p_hash text, p_raw_body text, p_payload jsonb, p_remote_addr text,
  p_decision jsonb, p_line_no int, p_dedupe_day text, p_strategy text, p_strategy_version text)
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
    remote_addr, status, decision, line_no)
  values (p_source, p_key, p_hash, p_raw_body, p_payload, p_remote_addr, 'RECEIVED',
    p_decision, p_line_no)
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
