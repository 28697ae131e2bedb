-- Execution bookkeeping: how many lookups in a row did not find an order on the exchange (an
-- order is given up only after several, never after one failed lookup), and the paper
-- account's initial deposit, recorded once.
alter table orders add column reconcile_misses int not null default 0;
alter table orders add column checked_at timestamptz;
create index orders_alert_id on orders (alert_id) where alert_id is not null;

create unique index transactions_paper_initial_deposit on transactions (exchange_id, account)
  where kind = 'deposit' and note = 'initial paper balance';

-- The filled-key guard of 0001 and the attempt count look a key up among all orders, not only
-- active ones: without this index both scan the whole table on every insert.
create index orders_idempotency_key_all on orders (idempotency_key);

-- 0001's guard looked only for a filled order with the key, and the partial unique index only
-- at active rows. Together they let a second order in when its insert raced the first order's
-- update to FILLED: the guard still saw the old unfilled row, and by the time the index check
-- ran, the row had left the active set. Refusing a key that has an active order here as well
-- closes that window: whichever version the guard sees, active or filled, it refuses.
create or replace function orders_guard_identity() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'Orders are never deleted (order %); mark them CANCELED or REJECTED', old.client_order_id
      using errcode = 'restrict_violation';
  end if;
  if tg_op = 'UPDATE' then
    if new.client_order_id is distinct from old.client_order_id
       or new.idempotency_key is distinct from old.idempotency_key then
      raise exception 'Cannot change the client order id or idempotency key of order %', old.client_order_id
        using errcode = 'restrict_violation';
    end if;
    return new;
  end if;
  if exists (select 1 from orders where idempotency_key = new.idempotency_key and filled_qty > 0) then
    raise exception 'Cannot place order "%": idempotency key "%" already has a filled order',
      new.client_order_id, new.idempotency_key using errcode = 'unique_violation';
  end if;
  if exists (select 1 from orders where idempotency_key = new.idempotency_key
               and status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED')) then
    raise exception 'Cannot place order "%": idempotency key "%" already has an active order',
      new.client_order_id, new.idempotency_key using errcode = 'unique_violation';
  end if;
  return new;
end $$;
