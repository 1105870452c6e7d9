/**
 * Statistics for split tests: a conversion rate with its 95% Wilson score interval, and the comparison of an arm with
 * its control by the two-proportion z-test (pooled standard error, two-sided p-value). Pure functions, no I/O.
 *
 * The z-test leans on the normal approximation to the binomial. It is reported only when that approximation is
 * reasonable: every arm must have at least {@link MIN_EXPECTED} expected conversions and {@link MIN_EXPECTED} expected
 * non-conversions under the pooled rate (the usual rule of thumb, the same one behind chi-squared's "expected count ≥
 * 5"). Otherwise the comparison says `tooSmall` with the reason and gives no p-value.
 */

/** z for a two-sided 95% interval: Φ⁻¹(0.975). */
export const Z_95 = 1.959963984540054;

/**
 * Fewest expected conversions (and non-conversions) per arm, under the pooled rate, for the z-test to be shown.
 * @default 5
 */
export const MIN_EXPECTED = 5;

/** What the response and the README call the test. */
export const TEST_NAME = 'two-proportion z-test (pooled standard error, two-sided)';

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * The complementary error function. Below 2.5: 1 − erf(x) with erf from its everywhere-positive series
 * erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), which has no cancellation. From 2.5 on, where 1 − erf
 * would lose digits: the continued fraction erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))), evaluated
 * from the tail. Both are accurate to about 1e-14 relative on their ranges.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - ((2 / SQRT_PI) * Math.exp(-x * x) * sum);
  }
  if (x > 27) return 0; // e^(−729) is below the smallest double.
  let f = x;
  for (let k = 120; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / SQRT_PI / f;
}

/** Φ(z), the standard normal distribution function. */
export const normalCdf = (z: number): number => 0.5 * erfc(-z / Math.SQRT2);

/** Two-sided p-value of a standard normal statistic: P(|Z| ≥ |z|). */
export const twoSidedP = (z: number): number => erfc(Math.abs(z) / Math.SQRT2);

export type Interval = { low: number; high: number };

/** The 95% Wilson score interval for `successes` of `n`; undefined when n is 0 (no rate to bound). */
export function wilsonInterval(successes: number, n: number, z = Z_95): Interval | undefined {
  if (!(n > 0) || successes < 0 || successes > n) return undefined;
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // Exact at the ends, where rounding would give −1e-17 or 0.9999999999999999.
  return { low: successes === 0 ? 0 : Math.max(0, centre - half), high: successes === n ? 1 : Math.min(1, centre + half) };
}

export type Proportion = { successes: number; n: number };

export type Comparison = {
  /** rate(arm) − rate(control), in proportion points (0.05 = five percentage points). */
  difference: number;
  /** difference / rate(control): +0.25 is 25% better; null when the control converted nobody. */
  lift: number | null;
  /** The pooled z statistic; null when tooSmall. */
  z: number | null;
  /** Two-sided; null when tooSmall. */
  pValue: number | null;
  /** The normal approximation does not hold for these counts: do not judge the difference yet. */
  tooSmall: boolean;
  /** Why tooSmall (null otherwise). */
  reason: string | null;
};

/**
 * The arm against its control: difference, relative lift, and the pooled two-proportion z-test. The chi-squared test
 * of the 2×2 table (without continuity correction) is the same test: χ² = z², with the same p-value.
 */
export function compareProportions(arm: Proportion, control: Proportion): Comparison {
  for (const [name, x] of [['arm', arm], ['control', control]] as const) {
    if (!Number.isInteger(x.n) || !Number.isInteger(x.successes) || x.n < 0 || x.successes < 0 || x.successes > x.n) {
      throw new RangeError(`${name}: ${x.successes} conversions of ${x.n} is not a proportion`);
    }
  }
  const p1 = arm.n > 0 ? arm.successes / arm.n : 0;
  const p0 = control.n > 0 ? control.successes / control.n : 0;
  const difference = p1 - p0;
  const lift = control.n > 0 && p0 > 0 ? difference / p0 : null;
  const small = (reason: string): Comparison => ({ difference, lift, z: null, pValue: null, tooSmall: true, reason });
  if (arm.n === 0 || control.n === 0) return small(`${arm.n === 0 ? 'the arm' : 'the control'} has no runs yet`);
  const pooled = (arm.successes + control.successes) / (arm.n + control.n);
  const smallest = Math.min(arm.n, control.n);
  const expected = Math.min(smallest * pooled, smallest * (1 - pooled));
  if (expected < MIN_EXPECTED) {
    return small(
      `fewer than ${MIN_EXPECTED} expected ${smallest * pooled <= smallest * (1 - pooled) ? 'conversions' : 'non-conversions'} in an arm ` +
        `(${+expected.toFixed(2)} at the pooled rate ${+(pooled * 100).toFixed(2)}% with ${smallest} runs): the normal approximation does not hold`,
    );
  }
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / arm.n + 1 / control.n));
  const z = difference / se;
  return { difference, lift, z, pValue: twoSidedP(z), tooSmall: false, reason: null };
}
