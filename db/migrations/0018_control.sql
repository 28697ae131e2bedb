-- Operator control and account protections. A pause stops an account's new entries (exits and
-- protection keep working); it lives here so it survives restarts and is shared by every way
-- in (the CLI, Telegram). An operator's pause lasts until `resume`; a protection's pause
-- (daily loss, drawdown) lasts until `until` or `resume`. Lifting a pause keeps its row.
create table trading_pauses (
  id bigint generated always as identity primary key,
  account_id bigint not null references accounts(id),
  kind text not null check (kind in ('operator', 'daily_loss', 'drawdown')),
  reason text not null,
  by_whom text not null,
  until timestamptz,
  created_at timestamptz not null default now(),
  lifted_at timestamptz,
  lifted_by text
);
create unique index trading_pauses_one_active on trading_pauses (account_id, kind)
  where lifted_at is null;

-- Every control action, from any way in: who, what, when, and what came of it.
create table control_actions (
  id bigint generated always as identity primary key,
  via text not null check (via in ('cli', 'telegram')),
  actor text not null,
  action text not null,
  args jsonb not null default '{}',
  ok boolean not null,
  result text not null,
  created_at timestamptz not null default now()
);
create index control_actions_created on control_actions (created_at desc);

-- An operator's request to cancel an order, carried out by `serve` on the order's account
-- (the order is then settled from the exchange's evidence, like every order).
create table cancel_requests (
  id bigint generated always as identity primary key,
  order_id bigint not null references orders(id),
  status text not null default 'PENDING' check (status in ('PENDING', 'DONE', 'FAILED')),
  error text,
  requested_by text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index cancel_requests_one_pending on cancel_requests (order_id)
  where status = 'PENDING';

-- The equity of each account as seen when it plans entries, per UTC day: the first reading of
-- the day (the base of the daily loss limit) and the peak so far (the base of the drawdown lock).
create table equity_marks (
  account_id bigint not null references accounts(id),
  day date not null,
  first_equity numeric not null,
  last_equity numeric not null,
  peak_equity numeric not null,
  updated_at timestamptz not null default now(),
  primary key (account_id, day)
);
