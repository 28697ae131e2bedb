-- The ledger is tamper-evident even against the owner of the tables: every `transactions` row
-- carries a SHA-256 hash chained to the row before it, computed here on insert. Triggers stop
-- ordinary changes; the chain shows the changes that bypass them (session_replication_role =
-- replica, DISABLE TRIGGER, a superuser). `pg-solo-lite ledger verify` recomputes it outside
-- the database; docs/ledger.md gives the canonical form.
--
-- Inserts are serialized by a transaction-level advisory lock: once it is held, every earlier
-- ledger row is committed and visible, so each new row links to the last one. The link is read
-- from the table itself, not from a counter, so an insert skipped by ON CONFLICT DO NOTHING
-- (after its BEFORE trigger ran) leaves no trace. ledger_chain_head records the last row
-- (written after the insert): a tail cut from the table no longer matches it.
alter table transactions add column chain_seq bigint;
alter table transactions add column prev_hash text;
alter table transactions add column hash text;

create table ledger_chain_head (
  id boolean primary key default true check (id),
  seq bigint not null,
  hash text not null
);

-- One field of the canonical form: its length in bytes, a colon, the text; '-' for null.
create function ledger_field(v text) returns text language sql immutable as $$
  select case when v is null then '-' else octet_length(v)::text || ':' || v end
$$;

-- The hash of one row: SHA-256 in hex of the canonical text, one field per line, led by the
-- previous row's hash. Times are UTC with microseconds; the amount is its stored text.
create function ledger_row_hash(
  p_prev text, p_seq bigint, p_id bigint, p_exchange_id text, p_account text, p_asset text,
  p_amount numeric, p_kind text, p_order_id bigint, p_execution_id bigint, p_note text,
  p_created_at timestamptz)
returns text language sql immutable as $$
  select encode(sha256(convert_to(concat_ws(E'\n', 'pgsl-ledger-v1', p_prev,
    ledger_field(p_seq::text), ledger_field(p_id::text), ledger_field(p_exchange_id),
    ledger_field(p_account), ledger_field(p_asset), ledger_field(p_amount::text),
    ledger_field(p_kind), ledger_field(p_order_id::text), ledger_field(p_execution_id::text),
    ledger_field(p_note),
    ledger_field(to_char(p_created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))),
    'UTF8')), 'hex')
$$;

-- Rows already there get their chain now, in id order (the order they were written in).
alter table transactions disable trigger transactions_append_only;
do $$
declare
  r record;
  v_prev text := repeat('0', 64);
  v_hash text;
  v_seq bigint := 0;
begin
  for r in select * from transactions order by id loop
    v_seq := v_seq + 1;
    v_hash := ledger_row_hash(v_prev, v_seq, r.id, r.exchange_id, r.account, r.asset, r.amount,
      r.kind, r.order_id, r.execution_id, r.note, r.created_at);
    update transactions set chain_seq = v_seq, prev_hash = v_prev, hash = v_hash
     where id = r.id;
    v_prev := v_hash;
  end loop;
  insert into ledger_chain_head (seq, hash) values (v_seq, v_prev);
end $$;
alter table transactions enable trigger transactions_append_only;

alter table transactions alter column chain_seq set not null;
alter table transactions alter column prev_hash set not null;
alter table transactions alter column hash set not null;
create unique index transactions_chain_seq on transactions (chain_seq);

-- Links the new row into the chain. The paper account is checked here as well, under the same
-- lock: every earlier ledger row is committed and visible, so no asset of it goes below zero
-- however many fills arrive at once (the paper broker checks first; this is the guarantee).
create function transactions_chain() returns trigger language plpgsql as $$
declare
  v_seq bigint;
  v_prev text;
  v_balance numeric;
begin
  perform pg_advisory_xact_lock(1885827950); -- 'pgsn'
  select t.chain_seq, t.hash into v_seq, v_prev from transactions t
   order by t.chain_seq desc limit 1;
  v_seq := coalesce(v_seq, 0) + 1;
  v_prev := coalesce(v_prev, repeat('0', 64));
  if new.account = 'paper' and new.amount < 0 then
    select coalesce(sum(amount), 0) into v_balance from transactions
     where exchange_id = new.exchange_id and account = new.account and asset = new.asset;
    if v_balance + new.amount < 0 then
      raise exception 'The paper account cannot go negative: % % on a balance of % %',
        trim_scale(new.amount), new.asset, trim_scale(v_balance), new.asset
        using errcode = 'check_violation';
    end if;
  end if;
  new.chain_seq := v_seq;
  new.prev_hash := v_prev;
  new.hash := ledger_row_hash(v_prev, v_seq, new.id, new.exchange_id, new.account, new.asset,
    new.amount, new.kind, new.order_id, new.execution_id, new.note, new.created_at);
  return new;
end $$;
create trigger transactions_chain before insert on transactions
  for each row execute function transactions_chain();

-- The head follows the rows actually inserted. It runs as the owner: the app role has no
-- right to the head table itself (db/roles.sql).
create function transactions_chain_head() returns trigger language plpgsql
security definer set search_path = public, pg_temp as $$
begin
  update ledger_chain_head set seq = new.chain_seq, hash = new.hash where seq < new.chain_seq;
  return null;
end $$;
create trigger transactions_chain_head after insert on transactions
  for each row execute function transactions_chain_head();

create trigger ledger_chain_head_no_delete before delete on ledger_chain_head
  for each row execute function refuse_change();
create trigger ledger_chain_head_no_truncate before truncate on ledger_chain_head
  for each statement execute function refuse_change();

-- Executions are append-only like the ledger.
create trigger executions_append_only before update or delete on executions
  for each row execute function refuse_change();
create trigger executions_no_truncate before truncate on executions
  for each statement execute function refuse_change();

-- A dedupe key never changes and is never removed. The intake's ON CONFLICT … DO UPDATE sets
-- the key to itself to return the row it collided with; that no-op is let through.
create function refuse_real_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and new is not distinct from old then
    return new;
  end if;
  raise exception '% is immutable: % is refused', tg_table_name, tg_op
    using errcode = 'restrict_violation';
end $$;
create trigger inbound_dedupe_keys_immutable before update or delete on inbound_dedupe_keys
  for each row execute function refuse_real_change();
create trigger inbound_dedupe_keys_no_truncate before truncate on inbound_dedupe_keys
  for each statement execute function refuse_change();

-- Numbers at the instrument's precision: an average entry or fill price is a division and
-- otherwise grows by ~16 digits on every fill (hundreds of decimals after a few dozen adds).
create function price_scale(p_exchange_id text, p_symbol text) returns int
language sql stable as $$
  select coalesce((select scale(trim_scale(nullif(ei.trading_rules ->> 'tick_size', '')::numeric))
                     from exchange_instruments ei join instruments i on i.id = ei.instrument_id
                    where ei.exchange_id = p_exchange_id and i.symbol = p_symbol), 12)
$$;

create function positions_round() returns trigger language plpgsql as $$
begin
  if new.avg_entry_price is not null then
    new.avg_entry_price := round(new.avg_entry_price, price_scale(new.exchange_id, new.symbol));
  end if;
  new.realized_pnl := round(new.realized_pnl, 12);
  new.fees := round(new.fees, 12);
  return new;
end $$;
create trigger positions_round before insert or update on positions
  for each row execute function positions_round();

create function orders_round_avg_fill() returns trigger language plpgsql as $$
begin
  if new.avg_fill_price is not null then
    new.avg_fill_price := round(new.avg_fill_price, price_scale(new.exchange_id, new.symbol));
  end if;
  return new;
end $$;
create trigger orders_round_avg_fill before insert or update of avg_fill_price on orders
  for each row execute function orders_round_avg_fill();
