-- A sell that leaves less than the market's step (what a buy's commission taken in the base
-- leaves: 0.01232766 held, 0.01232 sold) closes its position from now on (execution/
-- order_updates.ts). Positions left open before with only such dust, and no sell order still
-- working on them, are closed the same way: the dust stays in the balance and the ledger.
update positions p
   set status = 'CLOSED', closed_at = now(), updated_at = now()
  from exchange_instruments ei
  join instruments i on i.id = ei.instrument_id
 where p.status = 'OPEN' and p.qty > 0
   and ei.exchange_id = p.exchange_id and i.symbol = p.symbol
   and p.qty < nullif(ei.trading_rules ->> 'step_size', '')::numeric
   and not exists (select 1 from orders o
                    where o.account_id = p.account_id and o.exchange_id = p.exchange_id
                      and o.symbol = p.symbol
                      and o.status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED'));
