-- Trailing stops: a strategy's trail (the stop follows the highest price since entry by
-- trail_pct once that high is trail_activation_pct above the entry), copied to each position
-- opened from its entries; an alert's own trail_pct wins over the strategy's.
alter table strategies add column trail_pct numeric
  check (trail_pct is null or (trail_pct > 0 and trail_pct < 100));
alter table strategies add column trail_activation_pct numeric not null default 0
  check (trail_activation_pct >= 0);

-- The position's trail, and the highest price seen since entry (from the entry's average price
-- on): the Risk agent raises it and the stop with it, never down.
alter table positions add column trail_pct numeric
  check (trail_pct is null or (trail_pct > 0 and trail_pct < 100));
alter table positions add column trail_activation_pct numeric not null default 0
  check (trail_activation_pct >= 0);
alter table positions add column high_water_price numeric check (high_water_price > 0);
