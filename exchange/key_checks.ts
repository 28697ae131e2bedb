/**
 * What `doctor` asks the exchange: whether the API key may trade (it must) and may withdraw (a
 * trading key never should; Binance reports both through sapi/v1/account/apiRestrictions, other
 * exchanges have no common way, so they are said to be unchecked), and how far the local clock is from the exchange's
 * (signed requests are refused outside a window, Binance's recvWindow).
 */
import { errorMessage } from "../core/errors.ts";
import { buildCcxtClient, type ExchangeSettings } from "./ccxt.ts";

export interface KeyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** More than this between the local clock and the exchange's is a warning. */
export const CLOCK_SKEW_MAX_MS = 1_000;

export async function exchangeChecks(settings: ExchangeSettings): Promise<KeyCheck[]> {
  const client = await buildCcxtClient({
    ...settings,
    timeoutMs: Math.min(settings.timeoutMs, 3_000),
  });
  const checks: KeyCheck[] = [];
  try {
    const t0 = Date.now();
    const server = Number(await client.fetchTime());
    const t1 = Date.now();
    // The server's time is taken somewhere in the round trip: compare with its middle.
    const skew = server - (t0 + t1) / 2;
    const off = Math.abs(skew) > CLOCK_SKEW_MAX_MS + (t1 - t0) / 2;
    checks.push({
      name: "clock",
      ok: true,
      detail: `${off ? "WARNING: " : ""}local clock is ${Math.round(Math.abs(skew))} ms ${
        skew > 0 ? "behind" : "ahead of"
      } ${settings.id}${off ? " (more than 1 s: enable NTP, e.g. timedatectl set-ntp true)" : ""}`,
    });
  } catch (error) {
    checks.push({ name: "clock", ok: true, detail: `not checked: ${errorMessage(error)}` });
  }
  if (settings.apiKey) {
    if (settings.id === "binance" && typeof client.sapiGetAccountApiRestrictions === "function") {
      try {
        const r = await client.sapiGetAccountApiRestrictions();
        const canTrade = r?.enableSpotAndMarginTrading !== false;
        checks.push({
          name: "api key",
          ok: canTrade,
          detail: `${
            canTrade
              ? "can trade"
              : "cannot trade: enable spot trading for this key (Binance: Enable Spot & Margin Trading)"
          }; ${
            r?.enableWithdrawals
              ? "WARNING: this API key can withdraw; create a key with withdrawals disabled"
              : "cannot withdraw (good)"
          }`,
        });
      } catch (error) {
        checks.push({
          name: "api key",
          ok: true,
          detail: `trading and withdrawal permissions not checked: ${errorMessage(error)}`,
        });
      }
    } else {
      checks.push({
        name: "api key",
        ok: true,
        detail:
          `withdrawal permission cannot be checked on ${settings.id}: make sure the key cannot withdraw`,
      });
    }
  }
  return checks;
}
