-- A sell never sells more than the open position holds, less what active sell orders are
-- already selling. Two sells planned at once from the same position (two alerts in one pass,
-- or a market sell next to a resting limit sell) would each pass a check made in the code;
-- here the check runs under a lock per exchange and symbol, so the second insert waits for
-- the first to commit and then sees it (each query of a volatile plpgsql function takes a new
-- snapshot under READ COMMITTED). Named to fire after orders_normalize_and_check, so it sees
-- the quantity truncated to the step.
create function orders_sell_within_position() returns trigger language plpgsql as $$
declare
  held numeric;
  selling numeric;
  base_asset text;
begin
  if new.side <> 'sell' or new.status not in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED') then
    return new;
  end if;
  perform pg_advisory_xact_lock(hashtext(new.exchange_id || ':' || new.symbol));
  select coalesce(sum(qty), 0) into held from positions
   where exchange_id = new.exchange_id and symbol = new.symbol and status = 'OPEN';
  select coalesce(sum(qty - filled_qty), 0) into selling from orders
   where exchange_id = new.exchange_id and symbol = new.symbol and side = 'sell'
     and status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED');
  if new.qty > held - selling then
    base_asset := coalesce((select base from instruments where symbol = new.symbol),
                           split_part(new.symbol, '/', 1));
    raise exception 'Cannot place order "%": sell of % exceeds the % % held (% already being sold)',
      new.client_order_id, trim_scale(new.qty), trim_scale(held), base_asset, trim_scale(selling) using errcode = 'check_violation';
  end if;
  return new;
end $$;

create trigger orders_sell_within_position before insert on orders
  for each row execute function orders_sell_within_position();

-- A maker rebate is a negative fee: money received. It is recorded as it is (the fee leg of
-- the ledger becomes a credit, the position's fees go down) instead of failing the fill, which
-- would keep the order unsettled for ever.
alter table executions drop constraint executions_fee_check;
