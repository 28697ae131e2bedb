-- An account's equity is read in the quote asset of what it trades (USDT for BTC/USDT, BTC for
-- ETH/BTC): a reading in one quote is compared only with readings in the same quote, so an
-- entry in a second quote never looks like a loss of the first (or hides one).
alter table equity_marks add column quote text;
-- Readings taken before this migration are in the one quote their account's orders (else its
-- positions) were in, USDT when it has none. An account whose orders were in several quotes
-- had its readings mixed, which cannot be told apart: they are kept as quote 'mixed', which no
-- reading compares with (its first reading and peak start again from the next reading).
update equity_marks m set quote = case
    when q.quotes is null then 'USDT'
    when array_length(q.quotes, 1) = 1 then q.quotes[1]
    else 'mixed' end
  from (select a.id,
               coalesce(
                 (select array_agg(distinct split_part(o.symbol, '/', 2)) from orders o
                   where o.account_id = a.id),
                 (select array_agg(distinct split_part(p.symbol, '/', 2)) from positions p
                   where p.account_id = a.id)) as quotes
          from accounts a) q
 where q.id = m.account_id;
alter table equity_marks alter column quote set not null;
alter table equity_marks drop constraint equity_marks_pkey;
alter table equity_marks add primary key (account_id, day, quote);
