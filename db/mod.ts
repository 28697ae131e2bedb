/** The public face of db/: what other rooms may use. */

export { type Db, isCheckViolation, isUniqueViolation, type Sql, sqlState } from "./db.ts";
export { loadMigrations, migrate } from "./migrate.ts";
export { openDb, openEmbeddedAt } from "./open.ts";
export {
  GENESIS_HASH,
  type LedgerReport,
  ledgerRowHash,
  privilegeWarning,
  verifyLedger,
} from "./ledger.ts";
