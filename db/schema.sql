-- The current schema of pg-solo-lite, generated from db/migrations/ by `deno task schema`.
-- Do not edit: change the schema with a new migration, then regenerate this file.

create table api_keys (
  id bigint generated always as identity not null,
  user_id bigint,
  exchange_id text not null,
  label text not null,
  fingerprint text not null,
  permission_notes text,
  created_at timestamp with time zone not null default now(),
  revoked_at timestamp with time zone,
  constraint api_keys_fingerprint_check CHECK (((length(fingerprint) >= 8) AND (length(fingerprint) <= 128))),
  constraint api_keys_exchange_id_fkey FOREIGN KEY (exchange_id) REFERENCES exchanges(id),
  constraint api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id),
  constraint api_keys_pkey PRIMARY KEY (id),
  constraint api_keys_exchange_id_fingerprint_key UNIQUE (exchange_id, fingerprint)
);

create table candles (
  exchange_id text not null,
  symbol text not null,
  timeframe text not null,
  ts timestamp with time zone not null,
  open numeric not null,
  high numeric not null,
  low numeric not null,
  close numeric not null,
  volume numeric not null default 0,
  kept boolean not null default false,
  constraint candles_check CHECK (((high >= low) AND (high >= open) AND (high >= close) AND (low <= open) AND (low <= close))),
  constraint candles_pkey PRIMARY KEY (exchange_id, symbol, timeframe, ts)
);

create table exchange_instruments (
  exchange_id text not null,
  instrument_id bigint not null,
  market_id text not null,
  active boolean not null default true,
  trading_rules jsonb not null default '{}'::jsonb,
  updated_at timestamp with time zone not null default now(),
  constraint exchange_instruments_exchange_id_fkey FOREIGN KEY (exchange_id) REFERENCES exchanges(id),
  constraint exchange_instruments_instrument_id_fkey FOREIGN KEY (instrument_id) REFERENCES instruments(id),
  constraint exchange_instruments_pkey PRIMARY KEY (exchange_id, instrument_id),
  constraint exchange_instruments_exchange_id_market_id_key UNIQUE (exchange_id, market_id)
);

create table exchanges (
  id text not null,
  mode text not null default 'paper'::text,
  created_at timestamp with time zone not null default now(),
  updated_at timestamp with time zone not null default now(),
  constraint exchanges_mode_check CHECK ((mode = ANY (ARRAY['paper'::text, 'sandbox'::text, 'live'::text]))),
  constraint exchanges_pkey PRIMARY KEY (id)
);

create table executions (
  id bigint generated always as identity not null,
  order_id bigint not null,
  exchange_trade_id text not null,
  qty numeric not null,
  price numeric not null,
  fee numeric not null default 0,
  fee_currency text,
  executed_at timestamp with time zone not null,
  created_at timestamp with time zone not null default now(),
  constraint executions_price_check CHECK ((price > (0)::numeric)),
  constraint executions_qty_check CHECK ((qty > (0)::numeric)),
  constraint executions_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders(id),
  constraint executions_pkey PRIMARY KEY (id),
  constraint executions_order_id_exchange_trade_id_key UNIQUE (order_id, exchange_trade_id)
);

create table inbound_alerts (
  id bigint generated always as identity not null,
  source text not null,
  idempotency_key text,
  payload_hash text,
  raw_body text not null,
  payload jsonb,
  remote_addr text,
  status text not null default 'RECEIVED'::text,
  error text,
  decision jsonb,
  line_no integer,
  received_at timestamp with time zone not null default now(),
  processed_at timestamp with time zone,
  accept_by timestamp with time zone,
  constraint inbound_alerts_source_check CHECK ((source = ANY (ARRAY['pine'::text, 'csv'::text, 'tradingview'::text, 'strategy'::text, 'risk'::text, 'pull'::text]))),
  constraint inbound_alerts_status_check CHECK ((status = ANY (ARRAY['RECEIVED'::text, 'PROCESSING'::text, 'EXECUTED'::text, 'REJECTED'::text, 'INVALID'::text, 'DUPLICATE'::text, 'FAILED'::text]))),
  constraint inbound_alerts_pkey PRIMARY KEY (id),
  constraint inbound_alerts_accept_by TRIGGER DEFERRABLE INITIALLY DEFERRED
);

create table inbound_dedupe_keys (
  idempotency_key text not null,
  payload_hash text not null,
  alert_id bigint not null,
  created_at timestamp with time zone not null default now(),
  constraint inbound_dedupe_keys_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES inbound_alerts(id),
  constraint inbound_dedupe_keys_pkey PRIMARY KEY (idempotency_key)
);

create table instruments (
  id bigint generated always as identity not null,
  symbol text not null,
  base text not null,
  quote text not null,
  created_at timestamp with time zone not null default now(),
  constraint instruments_symbol_check CHECK ((symbol ~ '^[A-Z0-9]+/[A-Z0-9]+$'::text)),
  constraint instruments_pkey PRIMARY KEY (id),
  constraint instruments_symbol_key UNIQUE (symbol)
);

create table ledger_chain_head (
  id boolean not null default true,
  seq bigint not null,
  hash text not null,
  constraint ledger_chain_head_id_check CHECK (id),
  constraint ledger_chain_head_pkey PRIMARY KEY (id)
);

create table notification_outbox (
  id bigint generated always as identity not null,
  chat_id bigint not null,
  severity text not null,
  kind text not null,
  text text not null,
  dedupe_key text not null,
  status text not null default 'PENDING'::text,
  fail_count integer not null default 0,
  send_after timestamp with time zone not null default now(),
  last_error text,
  telegram_message_id bigint,
  created_at timestamp with time zone not null default now(),
  sent_at timestamp with time zone,
  updated_at timestamp with time zone not null default now(),
  constraint notification_outbox_severity_check CHECK ((severity = ANY (ARRAY['INFO'::text, 'WARN'::text, 'CRITICAL'::text]))),
  constraint notification_outbox_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'SENT'::text, 'FAILED'::text]))),
  constraint notification_outbox_chat_id_fkey FOREIGN KEY (chat_id) REFERENCES telegram_chats(chat_id),
  constraint notification_outbox_pkey PRIMARY KEY (id),
  constraint notification_outbox_dedupe_key_unique UNIQUE (dedupe_key)
);

create table orders (
  id bigint generated always as identity not null,
  exchange_id text not null,
  symbol text not null,
  side text not null,
  type text not null default 'market'::text,
  purpose text not null default 'entry'::text,
  qty numeric not null,
  price numeric,
  stop_price numeric,
  ref_price numeric,
  status text not null default 'NEW'::text,
  idempotency_key text not null,
  client_order_id text not null,
  exchange_order_id text,
  filled_qty numeric not null default 0,
  avg_fill_price numeric,
  fee numeric not null default 0,
  fee_currency text,
  strategy text,
  alert_id bigint,
  position_id bigint,
  decision jsonb,
  reject_reason text,
  created_at timestamp with time zone not null default now(),
  submitted_at timestamp with time zone,
  updated_at timestamp with time zone not null default now(),
  reconcile_misses integer not null default 0,
  checked_at timestamp with time zone,
  constraint orders_client_order_id_check CHECK ((client_order_id ~ '^[A-Za-z0-9._:/-]{1,36}$'::text)),
  constraint orders_filled_qty_check CHECK ((filled_qty >= (0)::numeric)),
  constraint orders_filled_within_qty CHECK ((filled_qty <= qty)),
  constraint orders_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
  constraint orders_limit_has_price CHECK (((type <> ALL (ARRAY['limit'::text, 'stop_limit'::text])) OR (price IS NOT NULL))),
  constraint orders_price_check CHECK ((price > (0)::numeric)),
  constraint orders_purpose_check CHECK ((purpose = ANY (ARRAY['entry'::text, 'exit'::text, 'stop_loss'::text, 'take_profit'::text]))),
  constraint orders_qty_check CHECK ((qty > (0)::numeric)),
  constraint orders_ref_price_check CHECK ((ref_price > (0)::numeric)),
  constraint orders_side_check CHECK ((side = ANY (ARRAY['buy'::text, 'sell'::text]))),
  constraint orders_status_check CHECK ((status = ANY (ARRAY['NEW'::text, 'UNKNOWN'::text, 'OPEN'::text, 'PARTIALLY_FILLED'::text, 'FILLED'::text, 'CANCELED'::text, 'REJECTED'::text, 'EXPIRED'::text]))),
  constraint orders_stop_has_stop_price CHECK (((type <> ALL (ARRAY['stop_market'::text, 'stop_limit'::text])) OR (stop_price IS NOT NULL))),
  constraint orders_stop_price_check CHECK ((stop_price > (0)::numeric)),
  constraint orders_type_check CHECK ((type = ANY (ARRAY['market'::text, 'limit'::text, 'stop_market'::text, 'stop_limit'::text]))),
  constraint orders_exchange_id_fkey FOREIGN KEY (exchange_id) REFERENCES exchanges(id),
  constraint orders_pkey PRIMARY KEY (id),
  constraint orders_client_order_id_unique UNIQUE (client_order_id)
);

create table positions (
  id bigint generated always as identity not null,
  exchange_id text not null,
  symbol text not null,
  side text not null default 'long'::text,
  status text not null default 'OPEN'::text,
  qty numeric not null default 0,
  avg_entry_price numeric,
  stop_price numeric,
  take_profit_price numeric,
  realized_pnl numeric not null default 0,
  fees numeric not null default 0,
  strategy text,
  opened_at timestamp with time zone not null default now(),
  closed_at timestamp with time zone,
  updated_at timestamp with time zone not null default now(),
  constraint positions_qty_check CHECK ((qty >= (0)::numeric)),
  constraint positions_side_check CHECK ((side = 'long'::text)),
  constraint positions_status_check CHECK ((status = ANY (ARRAY['OPEN'::text, 'CLOSED'::text]))),
  constraint positions_exchange_id_fkey FOREIGN KEY (exchange_id) REFERENCES exchanges(id),
  constraint positions_pkey PRIMARY KEY (id)
);

create table reports (
  id text not null,
  kind text not null,
  period_start timestamp with time zone not null,
  period_end timestamp with time zone not null,
  metrics jsonb not null,
  html text not null,
  created_at timestamp with time zone not null default now(),
  scope text not null default 'all'::text,
  partial boolean not null default false,
  constraint reports_id_check CHECK ((id ~ '^[A-Za-z0-9_-]{22,}$'::text)),
  constraint reports_kind_check CHECK ((kind = ANY (ARRAY['daily'::text, 'weekly'::text]))),
  constraint reports_pkey PRIMARY KEY (id)
);

create table risk_actions (
  id bigint generated always as identity not null,
  position_id bigint not null,
  kind text not null,
  status text not null default 'PLANNED'::text,
  params jsonb not null default '{}'::jsonb,
  order_id bigint,
  error text,
  created_at timestamp with time zone not null default now(),
  updated_at timestamp with time zone not null default now(),
  alert_id bigint,
  constraint risk_actions_kind_check CHECK ((kind = ANY (ARRAY['stop_loss'::text, 'trailing_stop'::text, 'take_profit'::text, 'breakeven'::text, 'exit'::text]))),
  constraint risk_actions_status_check CHECK ((status = ANY (ARRAY['PLANNED'::text, 'DONE'::text, 'FAILED'::text]))),
  constraint risk_actions_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES inbound_alerts(id),
  constraint risk_actions_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders(id),
  constraint risk_actions_position_id_fkey FOREIGN KEY (position_id) REFERENCES positions(id),
  constraint risk_actions_pkey PRIMARY KEY (id)
);

create table schema_migrations (
  version integer not null,
  name text not null,
  checksum text not null,
  applied_at timestamp with time zone not null default now(),
  constraint schema_migrations_pkey PRIMARY KEY (version)
);

create table strategies (
  name text not null,
  enabled boolean not null default true,
  symbols text[],
  risk_pct numeric not null default 1,
  stop_pct numeric not null default 2,
  take_profit_pct numeric not null default 4,
  confidence_min numeric not null default 0,
  max_notional numeric,
  params jsonb not null default '{}'::jsonb,
  created_at timestamp with time zone not null default now(),
  updated_at timestamp with time zone not null default now(),
  constraint strategies_confidence_min_check CHECK (((confidence_min >= (0)::numeric) AND (confidence_min <= (1)::numeric))),
  constraint strategies_max_notional_check CHECK ((max_notional > (0)::numeric)),
  constraint strategies_name_check CHECK ((name ~ '^[A-Za-z0-9_.-]{1,64}$'::text)),
  constraint strategies_risk_pct_check CHECK (((risk_pct > (0)::numeric) AND (risk_pct <= (3)::numeric))),
  constraint strategies_stop_pct_check CHECK (((stop_pct > (0)::numeric) AND (stop_pct < (100)::numeric))),
  constraint strategies_take_profit_pct_check CHECK ((take_profit_pct > (0)::numeric)),
  constraint strategies_pkey PRIMARY KEY (name)
);

create table telegram_chats (
  chat_id bigint not null,
  label text,
  min_severity text not null default 'INFO'::text,
  active boolean not null default true,
  deactivated_reason text,
  created_at timestamp with time zone not null default now(),
  updated_at timestamp with time zone not null default now(),
  constraint telegram_chats_min_severity_check CHECK ((min_severity = ANY (ARRAY['INFO'::text, 'WARN'::text, 'CRITICAL'::text]))),
  constraint telegram_chats_pkey PRIMARY KEY (chat_id)
);

create table transactions (
  id bigint generated always as identity not null,
  exchange_id text not null,
  account text not null default 'main'::text,
  asset text not null,
  amount numeric not null,
  kind text not null,
  order_id bigint,
  execution_id bigint,
  note text,
  created_at timestamp with time zone not null default now(),
  chain_seq bigint not null,
  prev_hash text not null,
  hash text not null,
  constraint transactions_kind_check CHECK ((kind = ANY (ARRAY['deposit'::text, 'withdrawal'::text, 'trade'::text, 'fee'::text, 'adjustment'::text]))),
  constraint transactions_exchange_id_fkey FOREIGN KEY (exchange_id) REFERENCES exchanges(id),
  constraint transactions_execution_id_fkey FOREIGN KEY (execution_id) REFERENCES executions(id),
  constraint transactions_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders(id),
  constraint transactions_pkey PRIMARY KEY (id)
);

create table users (
  id bigint generated always as identity not null,
  name text not null,
  created_at timestamp with time zone not null default now(),
  constraint users_pkey PRIMARY KEY (id),
  constraint users_name_key UNIQUE (name)
);

-- Indexes

CREATE INDEX inbound_alerts_received ON public.inbound_alerts USING btree (received_at) WHERE (status = 'RECEIVED'::text);
CREATE INDEX notification_outbox_due_order ON public.notification_outbox USING btree (send_after, id) WHERE (status = 'PENDING'::text);
CREATE INDEX notification_outbox_status_created_at ON public.notification_outbox USING btree (status, created_at);
CREATE UNIQUE INDEX orders_active_idempotency_key ON public.orders USING btree (idempotency_key) WHERE (status = ANY (ARRAY['NEW'::text, 'UNKNOWN'::text, 'OPEN'::text, 'PARTIALLY_FILLED'::text]));
CREATE INDEX orders_alert_id ON public.orders USING btree (alert_id) WHERE (alert_id IS NOT NULL);
CREATE INDEX orders_exchange_order_id ON public.orders USING btree (exchange_order_id) WHERE (exchange_order_id IS NOT NULL);
CREATE INDEX orders_idempotency_key_all ON public.orders USING btree (idempotency_key);
CREATE INDEX orders_status_created_at ON public.orders USING btree (status, created_at);
CREATE UNIQUE INDEX positions_one_open ON public.positions USING btree (exchange_id, symbol) WHERE (status = 'OPEN'::text);
CREATE INDEX reports_created ON public.reports USING btree (created_at DESC);
CREATE UNIQUE INDEX reports_final_period ON public.reports USING btree (scope, kind, period_start) WHERE (NOT partial);
CREATE INDEX risk_actions_planned ON public.risk_actions USING btree (alert_id) WHERE (status = 'PLANNED'::text);
CREATE INDEX transactions_asset ON public.transactions USING btree (exchange_id, account, asset);
CREATE UNIQUE INDEX transactions_chain_seq ON public.transactions USING btree (chain_seq);
CREATE INDEX transactions_created_at_brin ON public.transactions USING brin (created_at);
CREATE UNIQUE INDEX transactions_paper_initial_deposit ON public.transactions USING btree (exchange_id, account) WHERE ((kind = 'deposit'::text) AND (note = 'initial paper balance'::text));

-- Functions

CREATE OR REPLACE FUNCTION public.enqueue_notification(p_severity text, p_kind text, p_text text, p_dedupe_key text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
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
end $function$;

CREATE OR REPLACE FUNCTION public.ledger_field(v text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case when v is null then '-' else octet_length(v)::text || ':' || v end
$function$;

CREATE OR REPLACE FUNCTION public.ledger_row_hash(p_prev text, p_seq bigint, p_id bigint, p_exchange_id text, p_account text, p_asset text, p_amount numeric, p_kind text, p_order_id bigint, p_execution_id bigint, p_note text, p_created_at timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select encode(sha256(convert_to(concat_ws(E'\n', 'pgsl-ledger-v1', p_prev,
    ledger_field(p_seq::text), ledger_field(p_id::text), ledger_field(p_exchange_id),
    ledger_field(p_account), ledger_field(p_asset), ledger_field(p_amount::text),
    ledger_field(p_kind), ledger_field(p_order_id::text), ledger_field(p_execution_id::text),
    ledger_field(p_note),
    ledger_field(to_char(p_created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))),
    'UTF8')), 'hex')
$function$;

CREATE OR REPLACE FUNCTION public.meets_min_notional(qty numeric, price numeric, min_notional numeric)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select min_notional is null or min_notional <= 0 or (qty * price) >= min_notional
$function$;

CREATE OR REPLACE FUNCTION public.normalize_price(price numeric, tick numeric, mode text DEFAULT 'nearest'::text)
 RETURNS numeric
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
begin
  if price is null then return null; end if;
  if tick is null or tick <= 0 then return price; end if;
  return case mode
    when 'down' then floor(price / tick) * tick
    when 'up' then ceil(price / tick) * tick
    else round(price / tick) * tick
  end;
end $function$;

CREATE OR REPLACE FUNCTION public.normalize_size(qty numeric, step numeric)
 RETURNS numeric
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
begin
  if qty is null then return null; end if;
  if step is null or step <= 0 then return qty; end if;
  return floor(qty / step) * step;
end $function$;

CREATE OR REPLACE FUNCTION public.orders_guard_identity()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
  if exists (select 1 from orders where idempotency_key = new.idempotency_key
               and (filled_qty > 0 or status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED'))) then
    raise exception 'Cannot place order "%": idempotency key "%" already has a filled or active order',
      new.client_order_id, new.idempotency_key using errcode = 'unique_violation';
  end if;
  return new;
end $function$;

CREATE OR REPLACE FUNCTION public.orders_normalize_and_check()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
end $function$;

CREATE OR REPLACE FUNCTION public.orders_round_avg_fill()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  if new.avg_fill_price is not null then
    new.avg_fill_price := round(new.avg_fill_price, price_scale(new.exchange_id, new.symbol));
  end if;
  return new;
end $function$;

CREATE OR REPLACE FUNCTION public.orders_sell_within_position()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
declare
  held numeric;
  selling numeric;
  base_asset text;
begin
  if new.side <> 'sell' or new.status not in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED') then
    return new;
  end if;
  perform pg_advisory_xact_lock(hashtext(new.exchange_id || ':' || new.symbol));
  select coalesce(sum(qty), 0) into held from positions
   where exchange_id = new.exchange_id and symbol = new.symbol and status = 'OPEN';
  select coalesce(sum(qty - filled_qty), 0) into selling from orders
   where exchange_id = new.exchange_id and symbol = new.symbol and side = 'sell'
     and status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED');
  if new.qty > held - selling then
    base_asset := coalesce((select base from instruments where symbol = new.symbol),
                           split_part(new.symbol, '/', 1));
    raise exception 'Cannot place order "%": sell of % exceeds the % % held (% already being sold)',
      new.client_order_id, trim_scale(new.qty), trim_scale(held), base_asset, trim_scale(selling) using errcode = 'check_violation';
  end if;
  return new;
end $function$;

CREATE OR REPLACE FUNCTION public.positions_round()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  if new.avg_entry_price is not null then
    new.avg_entry_price := round(new.avg_entry_price, price_scale(new.exchange_id, new.symbol));
  end if;
  new.realized_pnl := round(new.realized_pnl, 12);
  new.fees := round(new.fees, 12);
  return new;
end $function$;

CREATE OR REPLACE FUNCTION public.price_scale(p_exchange_id text, p_symbol text)
 RETURNS integer
 LANGUAGE sql
 STABLE
AS $function$
  select coalesce((select scale(trim_scale(nullif(ei.trading_rules ->> 'tick_size', '')::numeric))
                     from exchange_instruments ei join instruments i on i.id = ei.instrument_id
                    where ei.exchange_id = p_exchange_id and i.symbol = p_symbol), 12)
$function$;

CREATE OR REPLACE FUNCTION public.record_inbound_decision(p_source text, p_key text, p_hash text, p_raw_body text, p_payload jsonb, p_remote_addr text, p_decision jsonb, p_line_no integer, p_dedupe_day text, p_strategy text, p_strategy_version text, p_received_at timestamp with time zone, p_accept_by timestamp with time zone)
 RETURNS TABLE(id bigint, status text, first_id bigint, error text)
 LANGUAGE plpgsql
AS $function$
declare
  v_id bigint;
  v_first bigint;
  v_hash text;
  v_status text := 'RECEIVED';
  v_error text;
begin
  if not exists (select 1 from strategies s
                  where s.name = p_strategy and s.xmin::text = p_strategy_version) then
    return query select null::bigint, 'STALE'::text, null::bigint, null::text;
    return;
  end if;

  insert into inbound_alerts as a (source, idempotency_key, payload_hash, raw_body, payload,
    remote_addr, status, decision, line_no, received_at, accept_by)
  values (p_source, p_key, p_hash, p_raw_body, p_payload, p_remote_addr, 'RECEIVED',
    p_decision, p_line_no, coalesce(p_received_at, now()), p_accept_by)
  returning a.id into v_id;

  -- DO UPDATE (a no-op) rather than DO NOTHING: it returns the existing key's row even when a
  -- concurrent request committed it after this statement's snapshot was taken.
  insert into inbound_dedupe_keys as d (idempotency_key, payload_hash, alert_id)
  values (p_key, p_hash, v_id)
  on conflict (idempotency_key) do update set idempotency_key = d.idempotency_key
  returning d.alert_id, d.payload_hash into v_first, v_hash;

  if v_first <> v_id then
    if v_hash = p_hash then
      v_status := 'DUPLICATE';
      v_error := 'Duplicate of alert ' || v_first;
    else
      v_status := 'REJECTED';
      v_error := format('Idempotency key "%s" was already used by alert %s with a different '
        || 'payload; send a new key for a new trade', p_key, v_first);
      perform enqueue_notification('WARN', 'inbound_refused',
        format('Inbound %s alert %s refused: %s', p_source, v_id, v_error),
        'inbound-refused:' || p_dedupe_day || ':' || md5(v_error));
    end if;
    update inbound_alerts a set status = v_status, error = v_error, processed_at = now()
     where a.id = v_id;
  end if;
  return query select v_id, v_status, v_first, v_error;
end $function$;

CREATE OR REPLACE FUNCTION public.record_inbound_decisions(p_alerts jsonb)
 RETURNS TABLE(ord integer, id bigint, status text, first_id bigint, error text)
 LANGUAGE plpgsql
AS $function$
declare
  a record;
  r record;
begin
  for a in
    select t.ord::int as n, x.*
      from jsonb_array_elements(p_alerts) with ordinality as t(v, ord),
           jsonb_to_record(t.v) as x(source text, key text, hash text, raw_body text,
             payload jsonb, remote_addr text, decision jsonb, line_no int, dedupe_day text,
             strategy text, strategy_version text, received_at timestamptz,
             accept_by timestamptz)
     order by t.ord
  loop
    select * into r from record_inbound_decision(a.source, a.key, a.hash, a.raw_body,
      a.payload, a.remote_addr, a.decision, a.line_no, a.dedupe_day, a.strategy,
      a.strategy_version, a.received_at, a.accept_by);
    ord := a.n;
    id := r.id;
    status := r.status;
    first_id := r.first_id;
    error := r.error;
    return next;
  end loop;
end $function$;

CREATE OR REPLACE FUNCTION public.refuse_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  raise exception '% is append-only: % is refused', tg_table_name, tg_op
    using errcode = 'restrict_violation';
end $function$;

CREATE OR REPLACE FUNCTION public.refuse_late_inbound_alert()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  if clock_timestamp() > new.accept_by then
    raise exception 'The alert reached the database after its deadline (%); not stored',
      new.accept_by using errcode = 'PSL01';
  end if;
  return null;
end $function$;

CREATE OR REPLACE FUNCTION public.refuse_real_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  if tg_op = 'UPDATE' and new is not distinct from old then
    return new;
  end if;
  raise exception '% is immutable: % is refused', tg_table_name, tg_op
    using errcode = 'restrict_violation';
end $function$;

CREATE OR REPLACE FUNCTION public.severity_rank(severity text)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case severity when 'INFO' then 1 when 'WARN' then 2 when 'CRITICAL' then 3 end
$function$;

CREATE OR REPLACE FUNCTION public.transactions_chain()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
declare
  v_seq bigint;
  v_prev text;
  v_balance numeric;
begin
  perform pg_advisory_xact_lock(1885827950); -- 'pgsn'
  select t.chain_seq, t.hash into v_seq, v_prev from transactions t
   order by t.chain_seq desc limit 1;
  v_seq := coalesce(v_seq, 0) + 1;
  v_prev := coalesce(v_prev, repeat('0', 64));
  if new.account = 'paper' and new.amount < 0 then
    select coalesce(sum(amount), 0) into v_balance from transactions
     where exchange_id = new.exchange_id and account = new.account and asset = new.asset;
    if v_balance + new.amount < 0 then
      raise exception 'The paper account cannot go negative: % % on a balance of % %',
        trim_scale(new.amount), new.asset, trim_scale(v_balance), new.asset
        using errcode = 'check_violation';
    end if;
  end if;
  new.chain_seq := v_seq;
  new.prev_hash := v_prev;
  new.hash := ledger_row_hash(v_prev, v_seq, new.id, new.exchange_id, new.account, new.asset,
    new.amount, new.kind, new.order_id, new.execution_id, new.note, new.created_at);
  return new;
end $function$;

CREATE OR REPLACE FUNCTION public.transactions_chain_head()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
begin
  update ledger_chain_head set seq = new.chain_seq, hash = new.hash where seq < new.chain_seq;
  return null;
end $function$;

-- Triggers

CREATE TRIGGER executions_append_only BEFORE DELETE OR UPDATE ON public.executions FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER executions_no_truncate BEFORE TRUNCATE ON public.executions FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE CONSTRAINT TRIGGER inbound_alerts_accept_by AFTER INSERT ON public.inbound_alerts DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((new.accept_by IS NOT NULL)) EXECUTE FUNCTION refuse_late_inbound_alert();
CREATE TRIGGER inbound_dedupe_keys_immutable BEFORE DELETE OR UPDATE ON public.inbound_dedupe_keys FOR EACH ROW EXECUTE FUNCTION refuse_real_change();
CREATE TRIGGER inbound_dedupe_keys_no_truncate BEFORE TRUNCATE ON public.inbound_dedupe_keys FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_chain_head_no_delete BEFORE DELETE ON public.ledger_chain_head FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_chain_head_no_truncate BEFORE TRUNCATE ON public.ledger_chain_head FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER orders_guard_identity BEFORE INSERT OR DELETE OR UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION orders_guard_identity();
CREATE TRIGGER orders_normalize_and_check BEFORE INSERT OR UPDATE OF qty, price, stop_price, ref_price ON public.orders FOR EACH ROW EXECUTE FUNCTION orders_normalize_and_check();
CREATE TRIGGER orders_round_avg_fill BEFORE INSERT OR UPDATE OF avg_fill_price ON public.orders FOR EACH ROW EXECUTE FUNCTION orders_round_avg_fill();
CREATE TRIGGER orders_sell_within_position BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION orders_sell_within_position();
CREATE TRIGGER positions_round BEFORE INSERT OR UPDATE ON public.positions FOR EACH ROW EXECUTE FUNCTION positions_round();
CREATE TRIGGER reports_immutable BEFORE DELETE OR UPDATE ON public.reports FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER transactions_append_only BEFORE DELETE OR UPDATE ON public.transactions FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER transactions_chain BEFORE INSERT ON public.transactions FOR EACH ROW EXECUTE FUNCTION transactions_chain();
CREATE TRIGGER transactions_chain_head AFTER INSERT ON public.transactions FOR EACH ROW EXECUTE FUNCTION transactions_chain_head();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON public.transactions FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
