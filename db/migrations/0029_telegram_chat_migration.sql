-- A Telegram group upgraded to a supergroup gets a new chat id: Telegram answers a message to the
-- old id with 400 "group chat was upgraded to a supergroup chat" and parameters.migrate_to_chat_id,
-- and posts service messages (migrate_to_chat_id in the old group, migrate_from_chat_id in the new
-- one). The chat's registration follows it (notify/chat_migration.ts): the new id gets the old
-- one's settings, and the old row stays, deactivated, as the record of where the chat went (so a
-- later `chats add` of the old id can name the new one).
alter table telegram_chats
  add column migrated_to_chat_id bigint references telegram_chats(chat_id);

-- Moves chat p_from to p_to, once; a second call for the same chat changes nothing ('already').
-- A new id not registered yet takes the old chat's label, minimum severity, account tie and
-- state (active or not, and why). A new id registered already (`chats add` of the new id) keeps
-- its own settings ('merged'). The old chat's outbox rows move with it, queued ones included, their
-- dedupe keys rewritten to the new id, so an event already delivered or queued there is not queued
-- again. They stay behind when the new id already has the same message, and, in a merge, when the
-- new chat would not have received them itself (another account, a lower severity, deactivated):
-- those still queued are marked FAILED.
--
-- It runs as the owner: the notifier role may change no chat's id or account (db/roles.sql), and
-- this is the one way to. Only what Telegram does is accepted: a basic group (ids -1 to
-- -999999999999) becoming a supergroup (ids below -1000000000000), once.
create function migrate_telegram_chat(p_from bigint, p_to bigint) returns jsonb
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  v_old telegram_chats;
  v_new telegram_chats;
  v_merged boolean;
  v_hears_all boolean;
  v_suffix text := '@' || p_from;
  v_moved int;
  v_queued int;
  v_dropped int;
begin
  if p_from not between -999999999999 and -1 or p_to >= -1000000000000 then
    raise exception 'Chat % cannot become chat %: Telegram upgrades a basic group (-1 to -999999999999) to a supergroup (below -1000000000000)',
      p_from, p_to using errcode = 'check_violation';
  end if;
  select * into v_old from telegram_chats where chat_id = p_from for update;
  if not found then
    return jsonb_build_object('outcome', 'unknown');
  end if;
  if v_old.migrated_to_chat_id is not null then
    return jsonb_build_object('outcome', 'already', 'to_chat_id', v_old.migrated_to_chat_id,
      'from_label', v_old.label);
  end if;
  insert into telegram_chats (chat_id, label, min_severity, active, deactivated_reason, account_id)
  values (p_to, v_old.label, v_old.min_severity, v_old.active, v_old.deactivated_reason,
          v_old.account_id)
  on conflict (chat_id) do nothing;
  v_merged := not found;
  select * into v_new from telegram_chats where chat_id = p_to for update;
  -- Rows may move only where the new chat hears every account the old one heard.
  v_hears_all := v_new.account_id is null or v_new.account_id is not distinct from v_old.account_id;
  with moved as (
    update notification_outbox o
       set chat_id = p_to, dedupe_key = left(o.dedupe_key, -length(v_suffix)) || '@' || p_to,
           updated_at = now()
     where o.chat_id = p_from and v_hears_all
       and o.dedupe_key like ('%' || v_suffix)
       and not exists (
         select 1 from notification_outbox d
          where d.dedupe_key = left(o.dedupe_key, -length(v_suffix)) || '@' || p_to)
       and (o.status <> 'PENDING' or not v_merged
            or (v_new.active and severity_rank(o.severity) >= severity_rank(v_new.min_severity)))
    returning o.status
  )
  select count(*), count(*) filter (where status = 'PENDING') into v_moved, v_queued from moved;
  update notification_outbox
     set status = 'FAILED', updated_at = now(),
         last_error = format('Chat %s was upgraded to the supergroup %s, registered apart, which '
           'has this message already or would not have received it', p_from, p_to)
   where chat_id = p_from and status = 'PENDING';
  get diagnostics v_dropped = row_count;
  update telegram_chats
     set active = false, migrated_to_chat_id = p_to, updated_at = now(),
         deactivated_reason = format('upgraded to the supergroup %s', p_to)
   where chat_id = p_from;
  if v_queued > 0 then perform pg_notify('outbox', ''); end if;
  return jsonb_build_object(
    'outcome', case when v_merged then 'merged' else 'moved' end,
    'to_chat_id', p_to, 'from_label', v_old.label, 'label', v_new.label,
    'min_severity', v_new.min_severity, 'account_id', v_new.account_id,
    'account', (select a.name from accounts a where a.id = v_new.account_id),
    'active', v_new.active, 'deactivated_reason', v_new.deactivated_reason,
    'moved', v_moved, 'queued', v_queued, 'dropped', v_dropped);
end $$;

-- Granted by db/roles.sql to the roles that follow a migration (app and notifier), not to everyone.
revoke execute on function migrate_telegram_chat(bigint, bigint) from public;
