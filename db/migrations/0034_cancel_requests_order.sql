-- Every cancel request of an order, whatever its status: the fill of a buy looks for an exit's
-- request of it (execution/order_updates.ts) and an exit for a request already DONE
-- (execution/process.ts). The only index was over PENDING rows, so both read the whole table,
-- which grows by a row per cancel (each trailing-stop replacement among them) for good.
create index cancel_requests_order on cancel_requests (order_id);
