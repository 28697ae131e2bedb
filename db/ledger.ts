/**
 * The ledger's hash chain (migration 0008), checked from outside the database: every row's
 * hash is recomputed here from its stored fields, so a change made past the triggers (as the
 * owner with session_replication_role = replica, or with a trigger disabled) shows as the
 * first row whose hash, link or sequence does not hold. docs/ledger.md has the canonical form.
 */
import { createHash } from "node:crypto";
import type { Db, Sql } from "./db.ts";

export const GENESIS_HASH = "0".repeat(64);

export interface LedgerRow {
  chain_seq: number;
  id: number;
  exchange_id: string;
  /** The book: 'paper' or 'main'. */
  account: string;
  /** Whose leg it is (migration 0016); 1 is the default account. */
  account_id: number;
  asset: string;
  amount: string;
  kind: string;
  order_id: number | null;
  execution_id: number | null;
  note: string | null;
  created_utc: string;
  prev_hash: string;
  hash: string;
}

export interface LedgerReport {
  ok: boolean;
  rows: number;
  /** The last row's sequence and hash: note them elsewhere to detect a rewrite of the tail. */
  head: { seq: number; hash: string };
  broken?: { chainSeq: number; id: number | null; reason: string };
}

const encoder = new TextEncoder();
const field = (v: string | number | null) => {
  if (v === null) return "-";
  const s = String(v);
  return `${encoder.encode(s).length}:${s}`;
};

/** The hash of one row, as the database computes it on insert (ledger_row_hash). */
export function ledgerRowHash(prev: string, r: Omit<LedgerRow, "prev_hash" | "hash">): string {
  const text = [
    "pgsl-ledger-v1",
    prev,
    field(r.chain_seq),
    field(r.id),
    field(r.exchange_id),
    // ledger_account_field: the default account's legs hash as they did before accounts.
    field(Number(r.account_id) === 1 ? r.account : `${r.account}@${r.account_id}`),
    field(r.asset),
    field(r.amount),
    field(r.kind),
    field(r.order_id),
    field(r.execution_id),
    field(r.note),
    field(r.created_utc),
  ].join("\n");
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const PAGE = 5_000;

/** Recomputes the whole chain in pages; stops at the first broken row. */
export async function verifyLedger(db: Sql): Promise<LedgerReport> {
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  let rows = 0;
  const fail = (chainSeq: number, id: number | null, reason: string): LedgerReport => ({
    ok: false,
    rows,
    head: { seq: expectSeq - 1, hash: prev },
    broken: { chainSeq, id, reason },
  });
  for (;;) {
    const page = await db.query<LedgerRow>(
      `select chain_seq, id, exchange_id, account, account_id, asset, amount::text, kind, order_id,
              execution_id, note,
              to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_utc,
              prev_hash, hash
         from transactions where chain_seq >= $1 order by chain_seq limit $2`,
      [expectSeq, PAGE],
    );
    for (const r of page) {
      const seq = Number(r.chain_seq);
      if (seq !== expectSeq) {
        return fail(expectSeq, null, `row ${expectSeq} of the chain is missing (next is ${seq})`);
      }
      if (r.prev_hash !== prev) {
        return fail(seq, Number(r.id), "its link to the previous row does not match");
      }
      const hash = ledgerRowHash(prev, { ...r, chain_seq: seq, id: Number(r.id) });
      if (hash !== r.hash) {
        return fail(seq, Number(r.id), "its content does not match its hash (it was changed)");
      }
      prev = hash;
      expectSeq++;
      rows++;
    }
    if (page.length < PAGE) break;
  }
  const [total] = await db.query<{ n: number }>("select count(*)::int as n from transactions");
  if (Number(total.n) !== rows) {
    return fail(expectSeq, null, `${Number(total.n) - rows} row(s) are outside the chain`);
  }
  const [head] = await db.query<{ seq: number; hash: string }>(
    "select seq, hash from ledger_chain_head",
  );
  if (!head || Number(head.seq) !== rows || head.hash !== prev) {
    return fail(
      expectSeq,
      null,
      `the chain head records row ${head ? Number(head.seq) : "none"}, the table ends at ` +
        `row ${rows}: rows were removed from the end`,
    );
  }
  return { ok: true, rows, head: { seq: rows, hash: prev } };
}

/**
 * Why the connection is too powerful for running the service, if it is: a superuser, or a
 * member of the role that owns the ledger, can bypass every trigger. Embedded databases have
 * a single user by design and are not warned about.
 */
export async function privilegeWarning(db: Db): Promise<string | undefined> {
  if (db.kind !== "server") return undefined;
  const [r] = await db.query<
    { who: string; super: boolean; owner: string | null; member: boolean }
  >(
    `select current_user as who,
            (select rolsuper from pg_roles where rolname = current_user) as super,
            c.relowner::regrole::text as owner,
            coalesce(pg_has_role(current_user, c.relowner, 'MEMBER'), false) as member
       from pg_class c where c.oid = to_regclass('transactions')`,
  );
  if (!r) return undefined;
  if (r.super) {
    return `connected as "${r.who}", a superuser: it can rewrite the ledger past its triggers; ` +
      `run the service as the app role (db/roles.sql)`;
  }
  if (r.member) {
    return `connected as "${r.who}", the owner of the tables: it can disable the ledger's ` +
      `triggers; run the service as the app role (db/roles.sql)`;
  }
  return undefined;
}
