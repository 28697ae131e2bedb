-- Software stop-loss and take-profit exits (agents/risk.ts). An exit is handed to execution as
-- an inbound alert of source 'risk', so the source check admits it; the risk action keeps the
-- alert it created, so its outcome can be settled from the alert's status.
alter table inbound_alerts drop constraint inbound_alerts_source_check;
alter table inbound_alerts add constraint inbound_alerts_source_check
  check (source in ('pine', 'csv', 'tradingview', 'strategy', 'risk'));

alter table risk_actions add column alert_id bigint references inbound_alerts (id);
create index risk_actions_planned on risk_actions (alert_id) where status = 'PLANNED';
