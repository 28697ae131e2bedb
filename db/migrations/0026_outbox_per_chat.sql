-- The outbox worker takes each chat's oldest due rows (notify/outbox.ts claimDue), so one chat's
-- backlog never keeps another chat's messages out of a batch: the rows of one chat in due order.
create index notification_outbox_chat_due on notification_outbox (chat_id, send_after, id)
  where status = 'PENDING';
