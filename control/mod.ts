/** The public face of control/: what other rooms may use. */

export {
  type ActionResult,
  type Actor,
  cancelOrder,
  exitPosition,
  type ExitTarget,
  exitTargets,
  pauseTrading,
  resumeTrading,
} from "./actions.ts";
export {
  balanceText,
  dailyText,
  ordersText,
  positionsText,
  type PriceOf,
  profitText,
  statusText,
  type ViewOptions,
  type ViewScope,
} from "./views.ts";
export { heartbeatComponent, heartbeatText, sendHeartbeat } from "./heartbeat.ts";
export { telegramControlComponent } from "./component.ts";
