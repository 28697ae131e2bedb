-- What an alert's `qty` may do per strategy: 'cap' (the default) trades at most the size the
-- 1-3 % risk rule gives, 'trust' trades the alert's quantity as given (still within the cash
-- and the strategy's notional cap).
alter table strategies add column qty_policy text not null default 'cap'
  check (qty_policy in ('cap', 'trust'));

-- Protective stops resting on the exchange (purpose 'stop_loss'): one attempt per client order
-- id, found by the position they protect.
create index orders_protective_by_position on orders (position_id, status)
  where purpose = 'stop_loss';
