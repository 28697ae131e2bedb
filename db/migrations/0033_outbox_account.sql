-- The account a queued notification is about (null: the service itself). enqueue_notification
-- chose its chats when it was queued; the outbox worker checks again when it sends, so a chat
-- tied to an account since (`chats add <id> --account NAME`), or a FAILED row put back by
-- `outbox retry`, never carries another account's or the service's message to an account's chat.
alter table notification_outbox add column account_id bigint;

-- A row already in an account's chat was queued for that account; one in an operator chat may be
-- of any account, or of none: it stays null, which only an operator chat is sent.
update notification_outbox o set account_id = c.account_id
  from telegram_chats c
 where c.chat_id = o.chat_id and c.account_id is not null;

create or replace function enqueue_notification(p_severity text, p_kind text, p_text text,
                                                p_dedupe_key text, p_account_id bigint default null)
  returns int language plpgsql as $$
declare
  n int;
begin
  if severity_rank(p_severity) is null then
    raise exception 'Unknown severity "%": expected INFO, WARN or CRITICAL', p_severity
      using errcode = 'check_violation';
  end if;
  insert into notification_outbox (chat_id, severity, kind, text, dedupe_key, account_id)
  select c.chat_id, p_severity, p_kind, p_text, p_dedupe_key || '@' || c.chat_id, p_account_id
    from telegram_chats c
   where c.active and severity_rank(p_severity) >= severity_rank(c.min_severity)
     and (c.account_id is null or c.account_id = p_account_id)
  on conflict (dedupe_key) do nothing;
  get diagnostics n = row_count;
  if n > 0 then perform pg_notify('outbox', ''); end if;
  return n;
end $$;
