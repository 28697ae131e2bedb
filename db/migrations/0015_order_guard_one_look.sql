-- 0004's guard looked twice: first for a filled order with the key, then for an active one. In
-- a trigger each statement sees the database of its own moment, so an order that went from NEW
-- to FILLED between the two looks was seen by neither (unfilled in the first, no longer active
-- in the second), and a second order for the same key could be inserted. One statement sees one
-- moment: the other order is then either active or filled, and refused either way. (Two inserts
-- racing with no order yet are left to the unique index on active keys, as before.)
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
  if exists (select 1 from orders where idempotency_key = new.idempotency_key
               and (filled_qty > 0 or status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED'))) then
    raise exception 'Cannot place order "%": idempotency key "%" already has a filled or active order',
      new.client_order_id, new.idempotency_key using errcode = 'unique_violation';
  end if;
  return new;
end $$;
