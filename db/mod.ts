/** The public face of db/: what other rooms may use. */

export {
  type Db,
  describeHolder,
  InstanceLockedError,
  isCheckViolation,
  isUniqueViolation,
  type LockHolder,
  type Sql,
  sqlState,
} from "./db.ts";
export { loadMigrations, migrate } from "./migrate.ts";
export { type EmbeddedAtOptions, openDb, openEmbeddedAt, openEmbeddedCopy } from "./open.ts";
export {
  readRestoreMarker,
  removeRestoreMarker,
  RESTORE_MARKER,
  type RestoreMarker,
  UnfinishedRestoreError,
  writeRestoreMarker,
} from "./restore_marker.ts";
export { splitUrlSecrets } from "./url.ts";
export {
  GENESIS_HASH,
  type LedgerReport,
  ledgerRowHash,
  privilegeWarning,
  verifyLedger,
} from "./ledger.ts";
