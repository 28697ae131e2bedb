-- History downloaded for backtests (`candles download`) is kept: the ingestion agent trims its
-- recent window of each series, but only candles it may trim (not kept). Ingestion's upserts do
-- not touch the flag, so a downloaded candle stays kept when ingestion sees it again.
alter table candles add column kept boolean not null default false;
