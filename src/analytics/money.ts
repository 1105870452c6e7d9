/**
 * Money in reports: always per currency, and a total in the reporting currency only when every currency in it has a
 * rate (ANALYTICS_FX_RATES: the value of 1 unit in ANALYTICS_CURRENCY). CNY is never added to USD without a rate.
 */
export type FxOptions = { currency: string; rates: Record<string, number> };

export type Money = {
  /** Amount per ISO currency, rounded to cents. */
  byCurrency: Record<string, number>;
  /** The reporting currency `total` is in. */
  currency: string;
  /** Σ amount × rate; null when a currency in `byCurrency` has no rate (see `missingRates`). */
  total: number | null;
  missingRates: string[];
};

export const round2 = (x: number) => Math.round(x * 100) / 100;
export const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** The value of 1 unit of `cur` in the reporting currency, or undefined without a rate. */
export const rateOf = (fx: FxOptions, cur: string): number | undefined => (cur === fx.currency ? 1 : fx.rates[cur]);

export function money(byCurrency: Record<string, number>, fx: FxOptions): Money {
  const rounded: Record<string, number> = {};
  let total = 0;
  const missing: string[] = [];
  for (const [cur, amount] of Object.entries(byCurrency).sort(([a], [b]) => (a < b ? -1 : 1))) {
    rounded[cur] = round2(amount);
    const r = rateOf(fx, cur);
    if (r === undefined) {
      if (amount !== 0) missing.push(cur);
    } else total += amount * r;
  }
  return { byCurrency: rounded, currency: fx.currency, total: missing.length ? null : round2(total), missingRates: missing };
}

export function addTo(acc: Record<string, number>, cur: string, amount: number): void {
  acc[cur] = (acc[cur] ?? 0) + amount;
}

/** (revenue − spend) / spend in the reporting currency; null when spend is zero or either side cannot be converted. */
export function roiOf(revenue: Money, spend: Money): number | null {
  if (revenue.total === null || spend.total === null || spend.total <= 0) return null;
  return round6((revenue.total - spend.total) / spend.total);
}

/** `total / count` in the reporting currency (cost per lead…); null when either is unknown or count is zero. */
export function perUnit(spend: Money, count: number): number | null {
  return spend.total === null || count <= 0 ? null : round2(spend.total / count);
}
