-- Least-privilege roles for a PostgreSQL server. Run once as the owner of the schema (the role
-- that runs `pg-solo-lite migrate`), after migrating, and again after each upgrade:
--   psql "$ADMIN_DATABASE_URL" -f db/roles.sql
-- then set passwords (ALTER ROLE pgsl_app PASSWORD '…') and run `serve` with
-- DATABASE_URL=postgres://pgsl_app:…@host/db. Neither role can alter the schema or change the
-- ledger; the notifier can touch only the outbox and the chats.
do $$
begin
  if not exists (select from pg_roles where rolname = 'pgsl_app') then
    create role pgsl_app login;
  end if;
  if not exists (select from pg_roles where rolname = 'pgsl_notifier') then
    create role pgsl_notifier login;
  end if;
end $$;

revoke create on schema public from public;
grant usage on schema public to pgsl_app, pgsl_notifier;

-- The app reads and writes its tables but never deletes, and only appends to the ledger.
grant select, insert, update on all tables in schema public to pgsl_app;
revoke update, delete, truncate on transactions from pgsl_app;
revoke insert, update, delete, truncate on schema_migrations from pgsl_app;
grant select on schema_migrations to pgsl_app;
-- The candle window is pruned by the ingestion agent.
grant delete on candles to pgsl_app;
-- A strategy's subscriptions are replaced as a whole (strategies add … --accounts).
grant delete on strategy_accounts to pgsl_app;
grant usage, select on all sequences in schema public to pgsl_app;
grant execute on all functions in schema public to pgsl_app;
-- Tables a later migration adds get the same rights, so an upgrade without re-running this file
-- does not leave the app unable to read them (the owner running the migrations grants them).
alter default privileges in schema public grant select, insert, update on tables to pgsl_app;
alter default privileges in schema public grant usage, select on sequences to pgsl_app;
alter default privileges in schema public grant execute on functions to pgsl_app;
-- The record of control actions is appended to, never rewritten.
revoke update on control_actions from pgsl_app;

-- The notifier: the outbox and the chats, nothing else.
grant select, insert, update on notification_outbox to pgsl_notifier;
-- Chats: read, and deactivated when Telegram says the bot was blocked; never re-tied to another
-- account (account_id decides who hears a person's trades).
grant select on telegram_chats to pgsl_notifier;
grant update (active, deactivated_reason, updated_at) on telegram_chats to pgsl_notifier;
grant select on schema_migrations to pgsl_notifier;
grant usage, select on all sequences in schema public to pgsl_notifier;
grant execute on function enqueue_notification(text, text, text, text, bigint), severity_rank(text)
  to pgsl_notifier;
-- A group upgraded to a supergroup is followed to its new id (migration 0029): the function
-- moves only what Telegram moved, and keeps the account tie.
grant execute on function migrate_telegram_chat(bigint, bigint) to pgsl_notifier;

-- Executions are append-only like the ledger, and a dedupe key is never changed. The intake's
-- ON CONFLICT … DO UPDATE sets the key to itself (to return the row it collided with), which
-- needs UPDATE on that one column; a trigger refuses any real change (migration 0008).
revoke update, delete, truncate on executions from pgsl_app;
revoke update, delete, truncate on inbound_dedupe_keys from pgsl_app;
grant update (idempotency_key) on inbound_dedupe_keys to pgsl_app;
-- The ledger's chain head is moved by a trigger running as the owner; the app only reads it.
revoke insert, update, delete, truncate on ledger_chain_head from pgsl_app;
