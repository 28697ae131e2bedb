-- A fill's fee taken in a third asset (BNB on Binance, neither the market's base nor its quote)
-- was charged 0 to its position, so a round trip's realized PnL (the `positions` command,
-- /profit, /daily, the sell's fill message) was higher than the reports', which value it at the
-- BNB/<quote> price known at the fill. `fee_quote` is the fee as the position is charged, in
-- the market's quote: the fee itself in the quote, fee × price in the base, and in a third asset
-- fee × the close of the latest <asset>/<quote> candle closed at or before the fill; null when
-- there was none. It is written with
-- the execution, in the transaction of its ledger legs (execution/order_updates.ts); the fee leg
-- of the ledger stays in the asset the exchange took.
alter table executions add column fee_quote numeric;

-- The assets of the position's fees that had no price at their fill: its realized PnL and fees
-- exclude them, and the views say so.
alter table positions add column unpriced_fee_assets text[] not null default '{}';

-- Positions already there were charged 0 for such fees: they are marked as excluding them.
with u as (
  select o.position_id as id, array_agg(distinct e.fee_currency order by e.fee_currency) as assets
    from executions e join orders o on o.id = e.order_id
   where o.position_id is not null and e.fee <> 0 and e.fee_currency is not null
     and e.fee_currency not in (split_part(o.symbol, '/', 1), split_part(o.symbol, '/', 2))
   group by o.position_id)
update positions p set unpriced_fee_assets = u.assets from u where u.id = p.id;
