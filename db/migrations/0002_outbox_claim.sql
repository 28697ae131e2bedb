-- The outbox worker claims due rows in (send_after, id) order, so that one chat's messages go
-- out in the order they were queued even when a transaction enqueued several with the same
-- send_after. This index serves that ORDER BY ... LIMIT directly; it replaces the index on
-- send_after alone.
create index notification_outbox_due_order on notification_outbox (send_after, id)
  where status = 'PENDING';
drop index notification_outbox_due;
