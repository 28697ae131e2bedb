-- The inbox's third door: alerts read from a polled file (PULL_ALERTS_URL, signals/pull.ts) are
-- stored with source 'pull'.
alter table inbound_alerts drop constraint inbound_alerts_source_check;
alter table inbound_alerts add constraint inbound_alerts_source_check
  check (source in ('pine', 'csv', 'tradingview', 'strategy', 'risk', 'pull'));
