/** The public face of exchange/: what other rooms may use. */

export { buildCcxtClient, createCcxtExchange } from "./ccxt.ts";
export { exchangeChecks } from "./key_checks.ts";
export {
  type Balance,
  type Candle,
  type Exchange,
  ExchangeMaintenanceError,
  type ExchangeOrder,
  type Fill,
  type Market,
  OrderOutcomeUnknownError,
  type OrderRequest,
  UnclassifiedRejectionError,
} from "./port.ts";
