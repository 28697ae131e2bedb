-- What an exit's sell counted of a buy whose cancel that exit asked for (execution/exit_fills.ts):
-- the sell order, and the buy's filled quantity as the statement that read the position it was
-- sized from saw it. A fill of the buy beyond that quantity is one the exit did not sell; a fill
-- it counted is sold by it. Both stay null until the exit records its sell.
alter table cancel_requests
  add column exit_sell_id bigint references orders (id),
  add column exit_counted_qty numeric;

-- An exit's requests looked up by the exit (`exit:alert <id>`): the position it reads, its sell,
-- its refusal. Without it each of these read the whole table, which grows by a row per cancel.
create index cancel_requests_requester on cancel_requests (requested_by);
