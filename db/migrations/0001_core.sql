-- The core schema: the tables the design names and the rules of the money. Every invariant
-- that protects funds is enforced here, so no code path can bypass it.

create table users (
  id bigint generated always as identity primary key,
  name text not null unique,
  created_at timestamptz not null default now()
);

create table exchanges (
  id text primary key,
  mode text not null default 'paper' check (mode in ('paper', 'sandbox', 'live')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Metadata only: the secret itself lives in the environment and never in the database.
create table api_keys (
  id bigint generated always as identity primary key,
  user_id bigint references users (id),
  exchange_id text not null references exchanges (id),
  label text not null,
  fingerprint text not null check (length(fingerprint) between 8 and 128),
  permission_notes text,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  unique (exchange_id, fingerprint)
);

create table instruments (
  id bigint generated always as identity primary key,
  symbol text not null unique check (symbol ~ '^[A-Z0-9]+/[A-Z0-9]+$'),
  base text not null,
  quote text not null,
  created_at timestamptz not null default now()
);

-- trading_rules: {"tick_size","step_size","min_qty","max_qty","min_notional"} as decimal strings.
create table exchange_instruments (
  exchange_id text not null references exchanges (id),
  instrument_id bigint not null references instruments (id),
  market_id text not null,
  active boolean not null default true,
  trading_rules jsonb not null default '{}'::jsonb,
  updated_at timestamptz not null default now(),
  primary key (exchange_id, instrument_id),
  unique (exchange_id, market_id)
);

-- Rounds a price to the tick: 'nearest' for limits, 'down'/'up' where the safe side matters
-- (a sell stop rounds up, a buy stop rounds down, so the stop is never looser than planned).
create function normalize_price(price numeric, tick numeric, mode text default 'nearest')
returns numeric language plpgsql immutable as $$
begin
  if price is null then return null; end if;
  if tick is null or tick <= 0 then return price; end if;
  return case mode
    when 'down' then floor(price / tick) * tick
    when 'up' then ceil(price / tick) * tick
    else round(price / tick) * tick
  end;
end $$;

-- Truncates a quantity to the step: never buy or sell more than asked.
create function normalize_size(qty numeric, step numeric)
returns numeric language plpgsql immutable as $$
begin
  if qty is null then return null; end if;
  if step is null or step <= 0 then return qty; end if;
  return floor(qty / step) * step;
end $$;

create function meets_min_notional(qty numeric, price numeric, min_notional numeric)
returns boolean language sql immutable as $$
  select min_notional is null or min_notional <= 0 or (qty * price) >= min_notional
$$;

create table orders (
  id bigint generated always as identity primary key,
  exchange_id text not null references exchanges (id),
  symbol text not null,
  side text not null check (side in ('buy', 'sell')),
  type text not null default 'market' check (type in ('market', 'limit', 'stop_market', 'stop_limit')),
  purpose text not null default 'entry' check (purpose in ('entry', 'exit', 'stop_loss', 'take_profit')),
  qty numeric not null check (qty > 0),
  price numeric check (price > 0),
  stop_price numeric check (stop_price > 0),
  -- The market price the order was sized at: used for the notional check of market orders.
  ref_price numeric check (ref_price > 0),
  status text not null default 'NEW' check (status in
    ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED')),
  idempotency_key text not null check (length(idempotency_key) between 1 and 200),
  client_order_id text not null check (client_order_id ~ '^[A-Za-z0-9._:/-]{1,36}$'),
  exchange_order_id text,
  filled_qty numeric not null default 0 check (filled_qty >= 0),
  avg_fill_price numeric,
  fee numeric not null default 0,
  fee_currency text,
  strategy text,
  alert_id bigint,
  position_id bigint,
  decision jsonb,
  reject_reason text,
  created_at timestamptz not null default now(),
  submitted_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint orders_client_order_id_unique unique (client_order_id),
  constraint orders_limit_has_price check (type not in ('limit', 'stop_limit') or price is not null),
  constraint orders_stop_has_stop_price check (type not in ('stop_market', 'stop_limit') or stop_price is not null),
  constraint orders_filled_within_qty check (filled_qty <= qty)
);

create unique index orders_active_idempotency_key on orders (idempotency_key)
  where status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED');
create index orders_exchange_order_id on orders (exchange_order_id) where exchange_order_id is not null;
create index orders_status_created_at on orders (status, created_at);

-- Normalizes price and size to the instrument's rules and refuses what is below the minimum
-- quantity or minimum notional, with a message that names the order and the numbers.
create function orders_normalize_and_check() returns trigger language plpgsql as $$
declare
  rules jsonb;
  tick numeric;
  step numeric;
  min_qty numeric;
  min_notional numeric;
  notional_price numeric;
  quote_asset text;
begin
  select ei.trading_rules, i.quote into rules, quote_asset
    from exchange_instruments ei join instruments i on i.id = ei.instrument_id
   where ei.exchange_id = new.exchange_id and i.symbol = new.symbol;
  if rules is null then
    raise exception 'Cannot place order "%": no trading rules for % on %; sync the markets first',
      new.client_order_id, new.symbol, new.exchange_id using errcode = 'check_violation';
  end if;
  tick := nullif(rules ->> 'tick_size', '')::numeric;
  step := nullif(rules ->> 'step_size', '')::numeric;
  min_qty := nullif(rules ->> 'min_qty', '')::numeric;
  min_notional := nullif(rules ->> 'min_notional', '')::numeric;

  new.price := normalize_price(new.price, tick, 'nearest');
  new.stop_price := normalize_price(new.stop_price, tick,
    case when new.side = 'sell' then 'up' else 'down' end);
  new.ref_price := normalize_price(new.ref_price, tick, 'nearest');
  new.qty := normalize_size(new.qty, step);

  if new.qty <= 0 or (min_qty is not null and new.qty < min_qty) then
    raise exception 'Cannot place order "%": quantity % is below the minimum %',
      new.client_order_id, new.qty, coalesce(min_qty, step) using errcode = 'check_violation';
  end if;
  notional_price := coalesce(new.price, new.stop_price, new.ref_price);
  if notional_price is null then
    raise exception 'Cannot place order "%": a market order needs ref_price for the notional check',
      new.client_order_id using errcode = 'check_violation';
  end if;
  if not meets_min_notional(new.qty, notional_price, min_notional) then
    raise exception 'Cannot place order "%": notional % % is below the minimum %',
      new.client_order_id, round(new.qty * notional_price, 8), quote_asset, min_notional
      using errcode = 'check_violation';
  end if;
  return new;
end $$;

create trigger orders_normalize_and_check before insert or update of qty, price, stop_price, ref_price
  on orders for each row execute function orders_normalize_and_check();

-- A client order id is unique forever: rows are never deleted and the id never changes. An
-- idempotency key whose order has any fill can never place another order.
create function orders_guard_identity() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'Orders are never deleted (order %); mark them CANCELED or REJECTED', old.client_order_id
      using errcode = 'restrict_violation';
  end if;
  if tg_op = 'UPDATE' then
    if new.client_order_id is distinct from old.client_order_id
       or new.idempotency_key is distinct from old.idempotency_key then
      raise exception 'Cannot change the client order id or idempotency key of order %', old.client_order_id
        using errcode = 'restrict_violation';
    end if;
    return new;
  end if;
  if exists (select 1 from orders where idempotency_key = new.idempotency_key and filled_qty > 0) then
    raise exception 'Cannot place order "%": idempotency key "%" already has a filled order',
      new.client_order_id, new.idempotency_key using errcode = 'unique_violation';
  end if;
  return new;
end $$;

create trigger orders_guard_identity before insert or update or delete on orders
  for each row execute function orders_guard_identity();

create table executions (
  id bigint generated always as identity primary key,
  order_id bigint not null references orders (id),
  exchange_trade_id text not null,
  qty numeric not null check (qty > 0),
  price numeric not null check (price > 0),
  fee numeric not null default 0 check (fee >= 0),
  fee_currency text,
  executed_at timestamptz not null,
  created_at timestamptz not null default now(),
  unique (order_id, exchange_trade_id)
);

create table positions (
  id bigint generated always as identity primary key,
  exchange_id text not null references exchanges (id),
  symbol text not null,
  side text not null default 'long' check (side in ('long')),
  status text not null default 'OPEN' check (status in ('OPEN', 'CLOSED')),
  qty numeric not null default 0 check (qty >= 0),
  avg_entry_price numeric,
  stop_price numeric,
  take_profit_price numeric,
  realized_pnl numeric not null default 0,
  fees numeric not null default 0,
  strategy text,
  opened_at timestamptz not null default now(),
  closed_at timestamptz,
  updated_at timestamptz not null default now()
);
create unique index positions_one_open on positions (exchange_id, symbol) where status = 'OPEN';

-- The ledger. Signed amounts per asset; a fill writes its base, quote and fee legs together.
create table transactions (
  id bigint generated always as identity primary key,
  exchange_id text not null references exchanges (id),
  account text not null default 'main',
  asset text not null,
  amount numeric not null,
  kind text not null check (kind in ('deposit', 'withdrawal', 'trade', 'fee', 'adjustment')),
  order_id bigint references orders (id),
  execution_id bigint references executions (id),
  note text,
  created_at timestamptz not null default now()
);
create index transactions_created_at_brin on transactions using brin (created_at);
create index transactions_asset on transactions (exchange_id, account, asset);

create function refuse_change() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only: % is refused', tg_table_name, tg_op
    using errcode = 'restrict_violation';
end $$;

create trigger transactions_append_only before update or delete on transactions
  for each row execute function refuse_change();
create trigger transactions_no_truncate before truncate on transactions
  for each statement execute function refuse_change();

create table telegram_chats (
  chat_id bigint primary key,
  label text,
  min_severity text not null default 'INFO' check (min_severity in ('INFO', 'WARN', 'CRITICAL')),
  active boolean not null default true,
  deactivated_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create function severity_rank(severity text) returns int language sql immutable as $$
  select case severity when 'INFO' then 1 when 'WARN' then 2 when 'CRITICAL' then 3 end
$$;

create table notification_outbox (
  id bigint generated always as identity primary key,
  chat_id bigint not null references telegram_chats (chat_id),
  severity text not null check (severity in ('INFO', 'WARN', 'CRITICAL')),
  kind text not null,
  text text not null,
  dedupe_key text not null,
  status text not null default 'PENDING' check (status in ('PENDING', 'SENT', 'FAILED')),
  fail_count int not null default 0,
  send_after timestamptz not null default now(),
  last_error text,
  telegram_message_id bigint,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint notification_outbox_dedupe_key_unique unique (dedupe_key)
);
create index notification_outbox_status_created_at on notification_outbox (status, created_at);
create index notification_outbox_due on notification_outbox (send_after) where status = 'PENDING';

-- Fans a message out to every active chat whose min_severity allows it. The per-chat row key
-- is dedupe_key || '@' || chat_id, so the same event enqueued twice is stored once per chat.
-- Returns the number of rows written and wakes the worker.
create function enqueue_notification(p_severity text, p_kind text, p_text text, p_dedupe_key text)
returns int language plpgsql as $$
declare
  n int;
begin
  if severity_rank(p_severity) is null then
    raise exception 'Unknown severity "%": expected INFO, WARN or CRITICAL', p_severity
      using errcode = 'check_violation';
  end if;
  insert into notification_outbox (chat_id, severity, kind, text, dedupe_key)
  select c.chat_id, p_severity, p_kind, p_text, p_dedupe_key || '@' || c.chat_id
    from telegram_chats c
   where c.active and severity_rank(p_severity) >= severity_rank(c.min_severity)
  on conflict (dedupe_key) do nothing;
  get diagnostics n = row_count;
  if n > 0 then perform pg_notify('outbox', ''); end if;
  return n;
end $$;

create table strategies (
  name text primary key check (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
  enabled boolean not null default true,
  symbols text[],
  risk_pct numeric not null default 1 check (risk_pct > 0 and risk_pct <= 3),
  stop_pct numeric not null default 2 check (stop_pct > 0 and stop_pct < 100),
  take_profit_pct numeric not null default 4 check (take_profit_pct > 0),
  confidence_min numeric not null default 0 check (confidence_min between 0 and 1),
  max_notional numeric check (max_notional > 0),
  params jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table inbound_alerts (
  id bigint generated always as identity primary key,
  source text not null check (source in ('pine', 'csv', 'tradingview', 'strategy')),
  idempotency_key text,
  payload_hash text,
  raw_body text not null,
  payload jsonb,
  remote_addr text,
  status text not null default 'RECEIVED' check (status in
    ('RECEIVED', 'PROCESSING', 'EXECUTED', 'REJECTED', 'INVALID', 'DUPLICATE', 'FAILED')),
  error text,
  decision jsonb,
  line_no int,
  received_at timestamptz not null default now(),
  processed_at timestamptz
);
create index inbound_alerts_received on inbound_alerts (received_at) where status = 'RECEIVED';

create table inbound_dedupe_keys (
  idempotency_key text primary key,
  payload_hash text not null,
  alert_id bigint not null references inbound_alerts (id),
  created_at timestamptz not null default now()
);

create table candles (
  exchange_id text not null,
  symbol text not null,
  timeframe text not null,
  ts timestamptz not null,
  open numeric not null,
  high numeric not null,
  low numeric not null,
  close numeric not null,
  volume numeric not null default 0,
  primary key (exchange_id, symbol, timeframe, ts),
  check (high >= low and high >= open and high >= close and low <= open and low <= close)
);

-- Immutable report snapshots; the id is the unguessable part of the report URL.
create table reports (
  id text primary key check (id ~ '^[A-Za-z0-9_-]{22,}$'),
  kind text not null check (kind in ('daily', 'weekly')),
  period_start timestamptz not null,
  period_end timestamptz not null,
  metrics jsonb not null,
  html text not null,
  created_at timestamptz not null default now(),
  unique (kind, period_start)
);
create trigger reports_immutable before update or delete on reports
  for each row execute function refuse_change();

create table risk_actions (
  id bigint generated always as identity primary key,
  position_id bigint not null references positions (id),
  kind text not null check (kind in ('stop_loss', 'trailing_stop', 'take_profit', 'breakeven', 'exit')),
  status text not null default 'PLANNED' check (status in ('PLANNED', 'DONE', 'FAILED')),
  params jsonb not null default '{}'::jsonb,
  order_id bigint references orders (id),
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
