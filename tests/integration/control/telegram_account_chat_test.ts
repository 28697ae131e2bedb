/**
 * A chat tied to an account (`chats add <id> --account alice`) is shared with that account's
 * owner: the admin's read-only commands there show alice's account alone, and whatever changes
 * something (commands and buttons) is refused there and named where to send instead. Operator
 * chats see and control every account. Through grammY against the fake Bot API, with alice and
 * bob on paper and the default account live on the fake exchange.
 */
import assert from "node:assert/strict";
import { exitPosition, pauseTrading } from "../../../control/actions.ts";
import { encodeExitConfirmation } from "../../../control/telegram_confirm.ts";
import { addAccount, setSubscriptions } from "../../../execution/accounts.ts";
import { addChat } from "../../../notify/chats.ts";
import { count, insertAlert } from "../../helpers/execution.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";
import { ADMIN, type BotWorld, buttonData, withBot } from "./telegram_helpers.ts";

/** alice's group with the bot and the operator's own group (tied to no account). */
const ALICE_CHAT = -700;
const OPERATOR_CHAT = -800;
/** carol's chat. */
const CAROL_CHAT = -900;

/** The commands that only read, and those that change something (every one of /help's). */
const READS = ["/status", "/positions", "/orders", "/balance", "/profit", "/daily", "/help"];
const CHANGES = ["/pause", "/resume", "/exit", "/cancel"];

interface People extends BotWorld {
  /** Open positions by account name. */
  open: Record<string, { id: number; openedAtMs: number }>;
  /** bob's orders. */
  bobOrders: number[];
}

const positionOf = async (w: BotWorld, account: string, status: string) => {
  const [p] = await w.db.query<{ id: number; opened_at: Date }>(
    `select p.id, p.opened_at from positions p join accounts a on a.id = p.account_id
      where a.name = $1 and p.status = $2 order by p.id desc limit 1`,
    [account, status],
  );
  return { id: Number(p.id), openedAtMs: new Date(p.opened_at).getTime() };
};

/**
 * The default account holds a position; alice one; bob one closed (a realized PnL) and one
 * open. ALICE_CHAT is tied to alice and OPERATOR_CHAT to none.
 */
function withPeople(fn: (w: People) => Promise<void>): Promise<void> {
  return withBot(async (w) => {
    const { db, service, waitFor } = w;
    await waitFor(
      "select count(*)::text as v from exchange_instruments where market_id = 'BTCUSDT'",
      "1",
    );
    const alice = await addAccount(db, { name: "alice", mode: "paper", exchangeId: "binance" });
    await addAccount(db, { name: "bob", mode: "paper", exchangeId: "binance" });
    await insertStrategy(db, "both");
    await setSubscriptions(db, "both", ["alice", "bob"]);
    await insertStrategy(db, "bobs");
    await setSubscriptions(db, "bobs", ["bob"]);
    const openCount = "select count(*)::text as v from positions where status = 'OPEN'";

    service.ctx.queues.decisions.push(await insertAlert(db, { qty: "0.001" }));
    service.ctx.queues.decisions.push(await insertAlert(db, { strategy: "both", qty: "0.002" }));
    await waitFor(openCount, "3");
    const bobFirst = await positionOf(w, "bob", "OPEN");
    const exit = await exitPosition(
      db,
      { via: "cli", who: "test" },
      bobFirst.id,
      bobFirst.openedAtMs,
    );
    assert.ok(exit.ok, exit.text);
    await waitFor(openCount, "2");
    service.ctx.queues.decisions.push(await insertAlert(db, { strategy: "bobs", qty: "0.003" }));
    await waitFor(openCount, "3");

    await addChat(db, { chatId: ALICE_CHAT, label: "alice", accountId: alice.id });
    await addChat(db, { chatId: OPERATOR_CHAT, label: "operator" });
    const bobOrders = await db.query<{ id: number }>(
      `select o.id from orders o join accounts a on a.id = o.account_id where a.name = 'bob'`,
    );
    assert.equal(bobOrders.length, 3, "bob's buy, sell and buy");
    await fn({
      ...w,
      open: {
        default: await positionOf(w, "default", "OPEN"),
        alice: await positionOf(w, "alice", "OPEN"),
        bob: await positionOf(w, "bob", "OPEN"),
      },
      bobOrders: bobOrders.map((o) => Number(o.id)),
    });
  });
}

/** What the bot said in `chatId` for `text`, as one string. */
const reply = async (w: BotWorld, chatId: number, text: string) =>
  (await w.say(ADMIN, chatId, text)).map((m) => m.text).join("\n");

/** Asserts `text` names no account but alice and no position or order that is not hers. */
function onlyAlice(command: string, text: string) {
  // The default account as the views name it (a line's start, "#12 default", "(default)").
  const other = /\bbob\b|(^|#\d+ |\()default\b/m;
  assert.doesNotMatch(text, other, `${command} in alice's chat:\n${text}`);
  // Every position and order line names its account after its id.
  for (const line of text.split("\n")) {
    const ref = /#(\d+) (\S+)/.exec(line);
    if (ref) assert.equal(ref[2], "alice", `${command}: ${line}`);
  }
}

Deno.test({
  name: "in a chat tied to an account every read-only command shows that account alone",
  ...serviceTest,
  fn: () =>
    withPeople(async (w) => {
      // Every command /help lists is in READS or CHANGES: a new one must be placed here.
      const listed = (await reply(w, OPERATOR_CHAT, "/help")).split("\n")
        .filter((l) => l.startsWith("/")).map((l) => l.split(/[\s-]/)[0]);
      assert.deepEqual(listed.toSorted(), [...READS, ...CHANGES].toSorted());

      for (const command of READS) {
        const text = await reply(w, ALICE_CHAT, command);
        assert.ok(text.length > 0, `${command} is answered`);
        assert.doesNotMatch(text, /failed|Not done/, `${command}: ${text}`);
        onlyAlice(command, text);
      }
      const status = await reply(w, ALICE_CHAT, "/status");
      assert.match(status, /^Account:\nalice: paper on binance, entries running\n/);
      assert.match(status, new RegExp(`Open positions \\(1\\):\n#${w.open.alice.id} alice BTC`));
      const positions = await reply(w, ALICE_CHAT, "/positions");
      assert.equal(positions.split("\n").length, 2, positions);
      assert.match(
        await reply(w, ALICE_CHAT, "/orders"),
        /^Orders .*\n#\d+ alice buy market 0\.002/,
      );
      const balance = (await reply(w, ALICE_CHAT, "/balance")).split("\n");
      assert.deepEqual(balance.slice(1).map((l) => l.split(":")[0]), [
        "alice paper",
        "alice paper",
      ]);
      assert.match(await reply(w, ALICE_CHAT, "/profit"), /^PnL:\nalice USDT: unrealized/);
      const help = await reply(w, ALICE_CHAT, "/help");
      assert.match(help, /tied to one account/);
      assert.match(help, /^\/pause, \/resume, \/exit, \/cancel: only in an operator chat/m);
      assert.doesNotMatch(help, /^\/pause /m, "the commands that change something are not offered");

      // The operator's chats, registered or not, show every account as before.
      for (const chat of [OPERATOR_CHAT, ADMIN]) {
        const all = await reply(w, chat, "/status");
        assert.match(all, /^Accounts:\ndefault: .*\nalice: .*\nbob: /);
        assert.match(all, /Open positions \(3\)/);
        assert.match(await reply(w, chat, "/orders"), /#\d+ bob sell/);
        assert.match(await reply(w, chat, "/balance"), /bob paper/);
        assert.match(await reply(w, chat, "/profit"), /bob USDT: realized today/);
        assert.match(await reply(w, chat, "/daily"), /\(bob\)/);
      }
      assert.doesNotMatch(await reply(w, ALICE_CHAT, "/daily"), /\(bob\)/);

      // Untied again (`chats add --operator`), the chat is an operator chat at once.
      await addChat(w.db, { chatId: ALICE_CHAT, accountId: null });
      assert.match(await reply(w, ALICE_CHAT, "/status"), /\nbob: /);
    }),
});

Deno.test({
  name:
    "commands that change something are refused in an account's chat, naming where to send them",
  ...serviceTest,
  fn: () =>
    withPeople(async (w) => {
      const { db, fake } = w;
      const before = {
        actions: await count(db, "select 1 from control_actions"),
        riskActions: await count(db, "select 1 from risk_actions"),
        orders: fake.orders.length,
      };
      const attempts: [string, RegExp][] = [
        ["/pause", /run: pg-solo-lite pause --account alice$/],
        ["/pause account:bob incident", /run: pg-solo-lite pause --account alice$/],
        ["/pause account:alice incident", /run: pg-solo-lite pause --account alice$/],
        ["/resume", /run: pg-solo-lite resume --account alice$/],
        ["/resume bob", /run: pg-solo-lite resume --account alice$/],
        ["/exit BTC/USDT", /run: pg-solo-lite exit <symbol\|position id> --account alice$/],
        [`/exit ${w.open.bob.id}`, /--account alice$/],
        [`/exit ${w.open.alice.id}`, /--account alice$/],
        [`/cancel ${w.bobOrders[0]}`, /run: pg-solo-lite cancel <order id>$/],
      ];
      for (const [command, cli] of attempts) {
        const answers = await w.say(ADMIN, ALICE_CHAT, command);
        assert.equal(answers.length, 1, command);
        const [{ text, replyMarkup }] = answers;
        assert.match(
          text,
          new RegExp(
            `^Not done: this chat is tied to account alice and only shows it\\. ` +
              `${command.split(" ")[0]} changes trading: send it in an operator chat`,
          ),
          command,
        );
        assert.match(text, cli, command);
        assert.equal(replyMarkup, undefined, `${command}: no button`);
        assert.doesNotMatch(text, /\bbob\b|\bdefault\b|BTC/, command);
      }
      assert.equal(await count(db, "select 1 from trading_pauses"), 0, "nothing paused");
      assert.equal(await count(db, "select 1 from cancel_requests"), 0, "nothing cancelled");
      assert.equal(await count(db, "select 1 from risk_actions"), before.riskActions, "no exit");
      assert.equal(await count(db, "select 1 from control_actions"), before.actions);
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 3);
      assert.equal(fake.orders.length, before.orders);

      // Sent where the answer says, the same command acts.
      assert.match(await reply(w, OPERATOR_CHAT, "/pause account:alice incident"), /paused/);
      assert.equal(await count(db, "select 1 from trading_pauses where lifted_at is null"), 1);
    }),
});

Deno.test({
  name: "no button acts in an account's chat: one offered before it was tied, or a forged one",
  ...serviceTest,
  fn: () =>
    withPeople(async (w) => {
      const { db, tg } = w;
      // The admin asked in the group before it was tied to alice: its button is there.
      await addChat(db, { chatId: ALICE_CHAT, accountId: null });
      const [ask] = await w.say(ADMIN, ALICE_CHAT, `/exit ${w.open.bob.id}`);
      const offered = buttonData(ask);
      const alice = await db.query<{ id: number }>("select id from accounts where name = 'alice'");
      await addChat(db, { chatId: ALICE_CHAT, accountId: Number(alice[0].id) });
      const forged = encodeExitConfirmation({
        positionId: w.open.default.id,
        openedAtMs: w.open.default.openedAtMs,
        expiresAtMs: Date.now() + 60_000,
      });
      const own = encodeExitConfirmation({
        positionId: w.open.alice.id,
        openedAtMs: w.open.alice.openedAtMs,
        expiresAtMs: Date.now() + 60_000,
      });
      const answers = tg.answers.length;
      await w.press(ADMIN, ALICE_CHAT, ask.messageId, offered.data);
      await w.press(ADMIN, ALICE_CHAT, ask.messageId, forged);
      await w.press(ADMIN, ALICE_CHAT, ask.messageId, own);
      assert.deepEqual(
        tg.answers.slice(answers).map((a) => a.text),
        Array(3).fill(
          "Not done: this chat is tied to account alice. Send /exit in an operator chat " +
            "(one not tied to an account) to sell; nothing was sold.",
        ),
      );
      assert.equal(await count(db, "select 1 from risk_actions where kind = 'exit'"), 1, "bob's");
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 3);
      assert.equal(tg.edits.length, 0, "the message is left as it was");

      // The same press in an operator chat sells: the button itself was good.
      const [again] = await w.say(ADMIN, OPERATOR_CHAT, `/exit ${w.open.bob.id}`);
      await w.press(ADMIN, OPERATOR_CHAT, again.messageId, buttonData(again).data);
      assert.match(tg.answers.at(-1)?.text ?? "", /handed to execution/);
      await w.waitFor("select count(*)::text as v from positions where status = 'OPEN'", "2");
    }),
});

Deno.test({
  name: "when a chat's tie cannot be read, commands and buttons there show and do nothing",
  ...serviceTest,
  fn: () =>
    withPeople(async (w) => {
      const { db, tg } = w;
      const [ask] = await w.say(ADMIN, OPERATOR_CHAT, `/exit ${w.open.bob.id}`);
      const { data } = buttonData(ask);
      // The lookup fails as in a database outage; an operator's view is no fallback.
      await db.query("alter table telegram_chats rename to telegram_chats_away");
      try {
        const status = await reply(w, ALICE_CHAT, "/status");
        assert.match(status, /^\/status failed: /);
        assert.doesNotMatch(status, /bob|BTC/);
        assert.match(await reply(w, ALICE_CHAT, "/pause"), /^\/pause failed: /);
        await w.press(ADMIN, OPERATOR_CHAT, ask.messageId, data);
        assert.match(tg.answers.at(-1)?.text ?? "", /^Not done: .*Nothing was sold/);
      } finally {
        await db.query("alter table telegram_chats_away rename to telegram_chats");
      }
      assert.equal(await count(db, "select 1 from trading_pauses"), 0);
      assert.equal(await count(db, "select 1 from risk_actions where kind = 'exit'"), 1, "bob's");
    }),
});

Deno.test({
  name: "an account's chat reads a pause without a reason as the operator's, without their id",
  ...serviceTest,
  fn: () =>
    withBot(async (w) => {
      const { db } = w;
      const alice = await addAccount(db, { name: "alice", mode: "paper", exchangeId: "binance" });
      await addChat(db, { chatId: ALICE_CHAT, label: "alice", accountId: alice.id });
      assert.match(await reply(w, ADMIN, "/pause"), /paused \(paused by Telegram user 1001\)/);
      const status = await reply(w, ALICE_CHAT, "/status");
      assert.match(status, /^alice: .*entries are paused \(operator: paused by the operator\)/m);
      assert.doesNotMatch(status, /1001/);
      // The operator's chats still read who it was.
      assert.match(await reply(w, ADMIN, "/status"), /paused by Telegram user 1001/);

      // An account added while every account is paused takes the same reason.
      const carol = await addAccount(db, { name: "carol", mode: "paper", exchangeId: "binance" });
      await addChat(db, { chatId: CAROL_CHAT, label: "carol", accountId: carol.id });
      assert.doesNotMatch(await reply(w, CAROL_CHAT, "/status"), /1001/);

      assert.match(await reply(w, ADMIN, "/resume"), /resume/);
      await pauseTrading(db, { via: "cli", who: "ops" }, { account: "alice" });
      const cli = await reply(w, ALICE_CHAT, "/status");
      assert.match(cli, /paused \(operator: paused by the operator\)/);
      assert.doesNotMatch(cli, /ops|CLI/);
      // A reason the operator gave is shown as given.
      await pauseTrading(db, { via: "cli", who: "ops" }, { account: "carol", reason: "audit" });
      assert.match(await reply(w, CAROL_CHAT, "/status"), /paused \(operator: audit\)/);
    }),
});
