-- A fill's ledger legs are written once: one row per (execution, asset, kind). The execution's
-- own unique key already keeps a fill from being booked twice (execution/order_updates.ts writes
-- the legs only with a new execution row); this makes the ledger itself refuse a second copy of a
-- leg, whatever writes it. A database that holds such a copy already keeps working without the
-- index (the ledger is append-only: nothing is removed), with a WARNING naming the executions.
do $$
declare
  twice text;
begin
  select string_agg(distinct d.execution_id::text, ', ') into twice
    from (select execution_id from transactions
           where execution_id is not null
           group by execution_id, asset, kind
          having count(*) > 1) d;
  if twice is null then
    create unique index transactions_one_leg on transactions (execution_id, asset, kind)
      where execution_id is not null;
  else
    raise warning 'transactions: execution(s) % have a ledger leg twice; the unique index transactions_one_leg is not created', twice;
  end if;
end $$;
