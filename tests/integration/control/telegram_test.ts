/**
 * The operator's Telegram commands inside a running serve, through grammY against the fake Bot
 * API, with execution trading on the fake exchange through ccxt.
 */
import assert from "node:assert/strict";
import { serviceTest } from "../../helpers/fixtures.ts";
import { alertOf, count, insertAlert } from "../../helpers/execution.ts";
import { ordersText } from "../../../control/views.ts";
import { ADMIN, buttonData, withBot } from "./telegram_helpers.ts";

const STRANGER = 2002;
const GROUP = -500;

Deno.test({
  name: "an admin's /pause stops new entries with the reason on the alert, /resume lets them trade",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, fake, service, say, waitFor }) => {
      const [paused] = await say(ADMIN, ADMIN, "/pause exchange maintenance");
      assert.match(paused.text, /paused \(exchange maintenance\)/);
      assert.equal(paused.parseMode, undefined, "plain text");
      const [pause] = await db.query<{ reason: string; by_whom: string }>(
        "select reason, by_whom from trading_pauses where lifted_at is null",
      );
      assert.equal(pause.reason, "exchange maintenance");
      assert.match(pause.by_whom, new RegExp(String(ADMIN)));
      const [action] = await db.query<{ via: string; actor: string; action: string }>(
        "select via, actor, action from control_actions order by id",
      );
      assert.deepEqual(action, { via: "telegram", actor: String(ADMIN), action: "pause" });

      const refused = await insertAlert(db, { idempotencyKey: "tg-paused", qty: "0.001" });
      service.ctx.queues.decisions.push(refused);
      await waitFor(
        "select (status <> 'RECEIVED' and status <> 'PROCESSING')::text as v from inbound_alerts where id = $1",
        "true",
        [refused],
      );
      assert.match((await alertOf(db, refused)).error ?? "", /paused.*exchange maintenance/);
      assert.equal(fake.orders.length, 0);

      const [resumed] = await say(ADMIN, ADMIN, "/resume");
      assert.match(resumed.text, /resume/i);
      const traded = await insertAlert(db, { idempotencyKey: "tg-resumed", qty: "0.001" });
      service.ctx.queues.decisions.push(traded);
      await waitFor("select status as v from inbound_alerts where id = $1", "EXECUTED", [traded]);
      assert.deepEqual(fake.orders.map((o) => o.side), ["BUY"]);
    }),
});

Deno.test({
  name:
    "/exit asks for confirmation; two presses sell exactly once; a press after expiry sells nothing",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, fake, service, tg, say, press, skew, waitFor }) => {
      const buy = await insertAlert(db, { idempotencyKey: "tg-exit-1", qty: "0.002" });
      service.ctx.queues.decisions.push(buy);
      await waitFor("select status as v from positions", "OPEN");

      const [ask] = await say(ADMIN, ADMIN, "/exit BTC/USDT");
      assert.match(ask.text, /sell 0\.002\d* BTC\/USDT/);
      assert.match(ask.text, /within 60 s/);
      const button = buttonData(ask);
      assert.equal(button.text, "Confirm exit");
      assert.ok(new TextEncoder().encode(button.data).length <= 64);
      assert.equal(fake.orders.length, 1, "asking sells nothing");

      // A double tap: both presses arrive before either is handled.
      tg.press({ fromId: ADMIN, chatId: ADMIN, messageId: ask.messageId, data: button.data });
      await press(ADMIN, ADMIN, ask.messageId, button.data);
      assert.equal(tg.answers.length, 2, "both presses answered");
      assert.match(tg.answers[0].text ?? "", /handed to execution/);
      assert.match(tg.answers[1].text ?? "", /already being exited|not open any more/);
      assert.match(tg.edits[0].text, /handed to execution/);
      assert.equal(tg.edits[0].replyMarkup, undefined, "the button is gone");
      await waitFor("select status as v from positions", "CLOSED");
      assert.deepEqual(fake.orders.map((o) => o.side), ["BUY", "SELL"]);
      assert.equal(await count(db, "select 1 from risk_actions where kind = 'exit'"), 1);

      // A third press, once the position is closed, sells nothing either.
      await press(ADMIN, ADMIN, ask.messageId, button.data);
      assert.match(tg.answers[2].text ?? "", /not open any more/);

      // Expiry: a new position, a confirmation pressed 61 s later.
      const again = await insertAlert(db, { idempotencyKey: "tg-exit-2", qty: "0.001" });
      service.ctx.queues.decisions.push(again);
      await waitFor("select count(*)::text as v from positions where status = 'OPEN'", "1");
      const [{ id }] = await db.query<{ id: number }>(
        "select id from positions where status = 'OPEN'",
      );
      const [ask2] = await say(ADMIN, ADMIN, `/exit ${id}`);
      const late = buttonData(ask2);
      skew(61_000);
      await press(ADMIN, ADMIN, ask2.messageId, late.data);
      assert.match(tg.answers[3].text ?? "", /expired/i);
      assert.match(tg.edits.at(-1)!.text, /expired: nothing was sold/i);
      assert.equal(await count(db, "select 1 from risk_actions where kind = 'exit'"), 1);
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 1);
      assert.deepEqual(fake.orders.map((o) => o.side), ["BUY", "SELL", "BUY"]);
    }),
});

Deno.test({
  name:
    "a user not in TELEGRAM_ADMIN_IDS changes nothing, sees no data, and hears 'not allowed' once an hour",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, fake, service, tg, say, press, skew, waitFor }) => {
      const buy = await insertAlert(db, { idempotencyKey: "tg-stranger", qty: "0.001" });
      service.ctx.queues.decisions.push(buy);
      await waitFor("select status as v from positions", "OPEN");
      const [{ id: positionId }] = await db.query<{ id: number }>("select id from positions");
      const [{ id: orderId }] = await db.query<{ id: number }>("select id from orders");
      const actionsBefore = await count(db, "select 1 from control_actions");
      // An admin's button, pressed by the stranger.
      const [ask] = await say(ADMIN, ADMIN, `/exit ${positionId}`);
      const { data } = buttonData(ask);

      const commands = [
        "/status",
        "/positions",
        "/orders",
        "/balance",
        "/profit",
        "/daily",
        "/pause stranger",
        "/resume",
        `/exit ${positionId}`,
        "/exit BTC/USDT",
        `/cancel ${orderId}`,
        "/help",
      ];
      const replies = [];
      for (const text of commands) {
        replies.push(...await say(STRANGER, STRANGER, text));
        replies.push(...await say(STRANGER, GROUP, text));
      }
      await press(STRANGER, ADMIN, ask.messageId, data);

      assert.deepEqual(replies.map((m) => m.text), ["Not allowed."], "one refusal, nothing else");
      for (const m of tg.messages.filter((m) => m.chatId === STRANGER || m.chatId === GROUP)) {
        assert.doesNotMatch(m.text, /BTC|USDT|position|order|balance|PnL|\d/i);
      }
      assert.equal(tg.answers.at(-1)?.text, "Not allowed.");
      assert.equal(await count(db, "select 1 from control_actions"), actionsBefore);
      assert.equal(await count(db, "select 1 from trading_pauses"), 0);
      assert.equal(await count(db, "select 1 from cancel_requests"), 0);
      assert.equal(await count(db, "select 1 from risk_actions"), 0);
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 1);
      assert.deepEqual(fake.orders.map((o) => o.side), ["BUY"]);

      // An hour later the stranger is told once more, and only once.
      skew(3_600_001);
      const later = [
        ...await say(STRANGER, GROUP, "/status"),
        ...await say(STRANGER, STRANGER, "/balance"),
      ];
      assert.deepEqual(later.map((m) => m.text), ["Not allowed."]);
    }),
});

Deno.test({
  name: "a reply over 4096 characters (/orders with many orders) arrives split on lines and whole",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, say, waitFor }) => {
      await waitFor(
        "select count(*)::text as v from exchange_instruments where market_id = 'BTCUSDT'",
        "1",
      );
      await db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                             client_order_id)
         select 'binance', 'BTC/USDT', 'buy', 0.001, 50000, 'FILLED', 'long-' || i, 'long-c' || i
           from generate_series(1, 150) i`,
      );
      const parts = await say(ADMIN, ADMIN, "/orders 150");
      assert.ok(parts.length >= 2, `${parts.length} parts`);
      for (const p of parts) assert.ok(p.text.length <= 4096, `${p.text.length} characters`);
      assert.equal(
        parts.map((p) => p.text).join("\n"),
        await ordersText(db, { limit: 150 }),
        "nothing lost, nothing cut inside a line",
      );
    }),
});

Deno.test({
  name:
    "/pause account:NAME pauses that account alone; /resume NAME lifts it; unknown names say so",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, say }) => {
      await db.query(
        "insert into accounts (name, exchange_id, mode) values ('alice', 'binance', 'paper')",
      );
      const [unknown] = await say(ADMIN, ADMIN, "/pause account:nosuch incident");
      assert.match(unknown.text, /No account named "nosuch"; accounts: default, alice/);
      const [paused] = await say(ADMIN, ADMIN, "/pause account:alice incident");
      assert.match(paused.text, /account alice paused \(incident\)/);
      const active = await db.query<{ name: string }>(
        `select a.name from trading_pauses p join accounts a on a.id = p.account_id
          where p.lifted_at is null`,
      );
      assert.deepEqual(active.map((r) => r.name), ["alice"], "the default account still trades");
      const [wrong] = await say(ADMIN, ADMIN, "/resume nosuch");
      assert.match(wrong.text, /No account named "nosuch"/);
      const [resumed] = await say(ADMIN, ADMIN, "/resume alice");
      assert.match(resumed.text, /resume: alice \(operator\)/);
      // Named as /pause names it, the account is the same; "account:" alone lifts nothing.
      await say(ADMIN, ADMIN, "/pause account:alice incident");
      const [bare] = await say(ADMIN, ADMIN, "/resume account:");
      assert.match(bare.text, /^Usage: \/resume/);
      assert.equal(await count(db, "select 1 from trading_pauses where lifted_at is null"), 1);
      const [prefixed] = await say(ADMIN, ADMIN, "/resume account:alice");
      assert.match(prefixed.text, /resume: alice \(operator\)/);
      assert.equal(
        await count(db, "select 1 from trading_pauses where lifted_at is null"),
        0,
      );
      // The bare name is a reason: every account is paused, and the answer says how to pause
      // alice alone.
      const [bareName] = await say(ADMIN, ADMIN, "/pause alice");
      assert.match(bareName.text, /^New entries of all accounts paused \(alice\)/);
      assert.match(
        bareName.text,
        /"alice" was taken as the reason: to pause only that account, \/pause account:alice/,
      );
      const [kept] = await db.query<{ result: string }>(
        "select result from control_actions order by id desc limit 1",
      );
      assert.doesNotMatch(kept.result, /was taken as the reason/, "the record is the plain one");
    }),
});

Deno.test({
  name: "a command ended by punctuation (/status, or /pause-all) is answered as that command",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, say }) => {
      // Telegram ends the command entity at the comma or the dash: grammY runs /status and
      // /pause, with the rest as the argument.
      const [status] = await say(ADMIN, ADMIN, "/status,");
      assert.match(status?.text ?? "(no reply)", /^Accounts:\ndefault: /);
      const [help] = await say(ADMIN, GROUP, "/help@fake_bot.");
      assert.match(help?.text ?? "(no reply)", /^Commands/);
      const [paused] = await say(ADMIN, ADMIN, "/pause-all");
      assert.match(paused?.text ?? "(no reply)", /^New entries of all accounts paused \(-all\)/);
      assert.equal(await count(db, "select 1 from trading_pauses where lifted_at is null"), 1);
    }),
});

Deno.test({
  name: "a pause whose reason is a long run of emoji is confirmed, and /status still answers",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, say }) => {
      // 2000 emoji are 4000 UTF-16 units: Telegram's limit counts those, not code points.
      const reason = "🔥".repeat(2000);
      const paused = await say(ADMIN, ADMIN, `/pause ${reason}`);
      assert.ok(paused.length >= 2, `${paused.length} parts`);
      assert.match(paused[0].text, /^New entries of all accounts paused \(🔥/);
      assert.equal(await count(db, "select 1 from trading_pauses where lifted_at is null"), 1);
      const status = await say(ADMIN, ADMIN, "/status");
      assert.ok(status.length >= 2, `${status.length} parts`);
      assert.match(status[0].text, /^Accounts:\n/);
      assert.ok(status.every((m) => m.text.length <= 4096));
    }),
});
