-- A position's realized PnL counted each sell's price difference less the sell's fee; the buys'
-- fees went into `fees` but were never charged against a sale, so a round trip's realized PnL
-- (the `positions` command, /profit, /daily, the sell's fill message) was higher than the
-- ledger's cash and the reports' realized PnL by the fees of its entries. `entry_fees` is what
-- the buys' fees (in the quote asset) still carry for the quantity held: each sell realizes its
-- share, in proportion to the quantity sold (all of it when the sell closes the position), as
-- the reports' average cost does (execution/order_updates.ts applyToPosition).
alter table positions add column entry_fees numeric not null default 0;

create or replace function positions_round() returns trigger language plpgsql as $$
begin
  if new.avg_entry_price is not null then
    new.avg_entry_price := round(new.avg_entry_price, price_scale(new.exchange_id, new.symbol));
  end if;
  new.realized_pnl := round(new.realized_pnl, 12);
  new.fees := round(new.fees, 12);
  new.entry_fees := round(new.entry_fees, 12);
  return new;
end $$;

-- Positions already there: their buys' fees (from the executions of their orders) are charged
-- now. A closed position realizes them all; an open one keeps the share of the quantity still
-- held (of what its buys received) and realizes the rest, the share already sold.
with b as (
  select o.position_id as id,
         sum(case when e.fee_currency = split_part(o.symbol, '/', 2) then e.fee
                  when e.fee_currency = split_part(o.symbol, '/', 1) then e.fee * e.price
                  else 0 end) as fee,
         sum(e.qty - case when e.fee_currency = split_part(o.symbol, '/', 1) then e.fee
                          else 0 end) as received
    from executions e join orders o on o.id = e.order_id
   where o.side = 'buy' and o.position_id is not null
   group by o.position_id),
s as (
  select b.id, b.fee,
         case when p.status = 'OPEN' then b.fee * least(p.qty / nullif(b.received, 0), 1)
              else 0 end as held
    from b join positions p on p.id = b.id)
update positions p
   set entry_fees = s.held, realized_pnl = p.realized_pnl - (s.fee - s.held)
  from s where s.id = p.id and s.fee <> 0;
