-- The paper broker's book (execution/paper_broker.ts): which recorded orders it accepted and
-- where each stands in the simulation, so a restart finds every resting paper order as it was.
-- The order itself (symbol, side, type, qty, price, stop_price) is its `orders` row, recorded
-- before the create call; this row is written by the broker only, as an exchange keeps its own
-- book, and the service learns of it through the broker's answers (reconcile.ts).
create table paper_orders (
  order_id bigint primary key references orders (id),
  account_id bigint not null references accounts (id),
  status text not null default 'open' check (status in ('open', 'closed', 'canceled')),
  -- What the order holds back of the free balance (a buy's cost and fee, a sell's quantity)
  -- while it rests, and once filled until its fill is in the ledger.
  hold_asset text not null,
  hold_amount numeric not null check (hold_amount >= 0),
  -- A stop whose price was reached: from then on it rests as a limit at the order's price.
  triggered_at timestamptz,
  -- The one fill of the order, decided once: every later answer repeats it.
  fill_price numeric check (fill_price > 0),
  fee numeric check (fee >= 0),
  fee_currency text,
  filled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((status = 'closed') = (fill_price is not null and filled_at is not null))
);

create index paper_orders_open on paper_orders (account_id) where status = 'open';
