/**
 * The parts of `serve`, in start order. A factory may return a part that does nothing when its
 * capability is not configured; its describe() then says so in the start-up log.
 */
import type { ComponentFactory } from "../runtime/mod.ts";
import { notifyComponent } from "../notify/mod.ts";
import { inboundComponent, pullComponent } from "../signals/mod.ts";
import { executionComponent } from "../execution/mod.ts";
import { riskComponent } from "../risk/mod.ts";
import { reportComponent } from "../report/mod.ts";
import { strategyComponent } from "../strategy/mod.ts";
import { createCcxtExchange } from "../exchange/mod.ts";
import { backupComponent } from "../ops/mod.ts";
import { heartbeatComponent, telegramControlComponent } from "../control/mod.ts";

export const componentFactories: ComponentFactory[] = [
  // Telegram delivery first, so that every later part's start-up problems reach the operator.
  notifyComponent,
  // The operator's commands on Telegram (TELEGRAM_BOT_TOKEN and TELEGRAM_ADMIN_IDS): replies
  // go straight to the Bot API, control actions are announced through the outbox.
  telegramControlComponent(),
  // The webhook: alerts stored as RECEIVED and handed to execution.
  inboundComponent,
  // The polled file of alerts (only with PULL_ALERTS_URL), through the same intake.
  pullComponent,
  // Decisions → orders, reconciliation and the market sync.
  executionComponent,
  // Software stops and targets of open positions, handed to execution as exits.
  riskComponent,
  // GET /reports/:id and the daily and weekly reports (REPORTS_ENABLED).
  reportComponent,
  // Candles and the built-in strategy (only with STRATEGY_ENABLED=true). Market data is
  // public: no keys are given to this client.
  strategyComponent({
    exchange: (ctx) =>
      createCcxtExchange({ ...ctx.config.exchange, apiKey: undefined, apiSecret: undefined }),
  }),
  // The daily backup (only with BACKUP_DIR set).
  backupComponent,
  // The daily "alive" message (HEARTBEAT_AT).
  heartbeatComponent,
];
