-- The write of an accepted inbound decision, as one function: the alert row and its claim on
-- the idempotency key are committed together, and the status is settled before the commit, so
-- no other session ever sees a duplicate as RECEIVED. A function also keeps its plans cached
-- per connection, which matters at webhook rates (the statement is written once per alert).
create function record_inbound_decision(
  p_source text, p_key text, p_hash text, p_raw_body text, p_payload jsonb, p_remote_addr text,
  p_decision jsonb, p_line_no int, p_dedupe_day text)
returns table (id bigint, status text, first_id bigint, error text)
language plpgsql as $$
declare
  v_id bigint;
  v_first bigint;
  v_hash text;
  v_status text := 'RECEIVED';
  v_error text;
begin
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
