-- A laddered take-profit per strategy: [{"pct": 4, "share": 50}, {"pct": 8, "share": 50}] sells
-- 50 % at +4 % and the rest at +8 % (trading/ladder.ts). Null: the single target of
-- take_profit_pct / tp.
alter table strategies add column tp_ladder jsonb
  check (tp_ladder is null or jsonb_typeof(tp_ladder) = 'array');

-- The slices planned for a position at its entry ([{pct, share, price, qty}], from planLadder)
-- and how many of them filled (the Risk agent's progress, kept here so a restart resumes it).
alter table positions add column tp_ladder jsonb
  check (tp_ladder is null or jsonb_typeof(tp_ladder) = 'array');
alter table positions add column tp_ladder_filled integer not null default 0
  check (tp_ladder_filled >= 0);
