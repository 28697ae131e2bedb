-- Reports (report/): a snapshot belongs to a scope (exchange and ledger account, e.g.
-- 'binance:paper'; per-person accounts add their own later). A closed period has exactly one
-- final snapshot per scope and kind; snapshots of a period still running are marked partial and
-- may be many (each has its page). Reports stay immutable (0001's trigger).
alter table reports add column scope text not null default 'all';
alter table reports add column partial boolean not null default false;
alter table reports drop constraint reports_kind_period_start_key;
create unique index reports_final_period on reports (scope, kind, period_start) where not partial;
create index reports_created on reports (created_at desc);
