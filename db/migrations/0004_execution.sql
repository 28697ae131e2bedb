-- Execution bookkeeping: how many lookups in a row did not find an order on the exchange (an
-- order is given up only after several, never after one failed lookup), and the paper
-- account's initial deposit, recorded once.
alter table orders add column reconcile_misses int not null default 0;
alter table orders add column checked_at timestamptz;
create index orders_alert_id on orders (alert_id) where alert_id is not null;

create unique index transactions_paper_initial_deposit on transactions (exchange_id, account)
  where kind = 'deposit' and note = 'initial paper balance';
