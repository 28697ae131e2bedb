-- An account's equity is read in the quote asset of what it trades (USDT for BTC/USDT, BTC for
-- ETH/BTC): a reading in one quote is compared only with readings in the same quote, so an
-- entry in a second quote never looks like a loss of the first (or hides one).
alter table equity_marks add column quote text;
-- Readings taken before this migration: in the quote of the account's latest order (the quote
-- it traded), else of its latest position.
update equity_marks m set quote = coalesce(
  (select split_part(o.symbol, '/', 2) from orders o
    where o.account_id = m.account_id order by o.id desc limit 1),
  (select split_part(p.symbol, '/', 2) from positions p
    where p.account_id = m.account_id order by p.id desc limit 1),
  'USDT');
alter table equity_marks alter column quote set not null;
alter table equity_marks drop constraint equity_marks_pkey;
alter table equity_marks add primary key (account_id, day, quote);
