-- A leg's account field is hashed as `account` for the default account and `account@<id>` for
-- the others (ledger_account_field, migration 0016). An account name holding '@' could make two
-- different legs hash the same ('paper' of account 2 and 'paper@2' of account 1), so a leg
-- moved between accounts would still verify. Books are plain names ('paper', 'main'): '@' is
-- refused in them.
alter table transactions add constraint transactions_account_plain
  check (position('@' in account) = 0);
