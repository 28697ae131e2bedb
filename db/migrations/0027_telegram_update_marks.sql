-- The last Telegram update each bot handled. Updates are confirmed to Telegram only by the next
-- getUpdates; after a crash in between, Telegram hands the same commands over again, and a
-- replayed /resume would lift a pause set after it. The poller skips what it handled before
-- (control/telegram_poller.ts).
create table telegram_update_marks (
  bot_id bigint primary key,
  last_update_id bigint not null,
  updated_at timestamptz not null default now()
);
