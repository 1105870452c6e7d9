import { describe, expect, it } from 'vitest';
import { compareProportions, erfc, MIN_EXPECTED, normalCdf, twoSidedP, wilsonInterval, Z_95 } from '../../src/stats/ab';

/** An independent Φ: Simpson's rule over the normal density from 0 to |z| (no error function involved). */
function simpsonCdf(z: number): number {
  const pdf = (t: number) => Math.exp((-t * t) / 2) / Math.sqrt(2 * Math.PI);
  const a = Math.abs(z);
  const n = 20_000;
  const h = a / n;
  let s = pdf(0) + pdf(a);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(i * h);
  const half = (s * h) / 3;
  return z >= 0 ? 0.5 + half : 0.5 - half;
}

/** Pearson's chi-squared of the 2×2 table (converted / not, arm / control), straight from Σ (O − E)² / E. */
function chiSquared(a: { successes: number; n: number }, b: { successes: number; n: number }): number {
  const table = [
    [a.successes, a.n - a.successes],
    [b.successes, b.n - b.successes],
  ];
  const total = a.n + b.n;
  const cols = [table[0]![0]! + table[1]![0]!, table[0]![1]! + table[1]![1]!];
  let chi = 0;
  table.forEach((row, i) =>
    row.forEach((o, j) => {
      const e = ([a.n, b.n][i]! * cols[j]!) / total;
      chi += (o - e) ** 2 / e;
    }),
  );
  return chi;
}

describe('the normal distribution', () => {
  it('matches published values of erfc and Φ', () => {
    // Abramowitz & Stegun table 7.1 / any CAS.
    expect(erfc(0)).toBe(1);
    expect(erfc(0.5)).toBeCloseTo(0.4795001221869535, 14);
    expect(erfc(1)).toBeCloseTo(0.1572992070502851, 14);
    expect(erfc(2)).toBeCloseTo(0.004677734981047266, 15);
    expect(erfc(3) / 2.209049699858544e-5).toBeCloseTo(1, 12);
    expect(erfc(5) / 1.537459794428035e-12).toBeCloseTo(1, 12);
    expect(erfc(-1)).toBeCloseTo(1.842700792949715, 14);
    expect(normalCdf(Z_95)).toBeCloseTo(0.975, 14);
    expect(twoSidedP(Z_95)).toBeCloseTo(0.05, 14);
    expect(twoSidedP(2.5758293035489)).toBeCloseTo(0.01, 12);
  });

  it('agrees with an independent numerical integral of the density, on both sides of the series/fraction switch', () => {
    for (const z of [-4, -3.2, -2, -1, -0.3, 0, 0.1, 0.7, 1.5, 2.9, 3.5, 3.6, 4.5, 6]) {
      expect(Math.abs(normalCdf(z) - simpsonCdf(z))).toBeLessThan(1e-12);
    }
  });
});

describe('Wilson score interval (95%)', () => {
  it('matches hand-computed values', () => {
    // 8 of 10: centre (0.8 + z²/20)/(1 + z²/10) = 0.71674, half-width 0.22657.
    const i = wilsonInterval(8, 10)!;
    expect(i.low).toBeCloseTo(0.4901625, 6);
    expect(i.high).toBeCloseTo(0.9433178, 6);
    // 0 of 10: [0, z²/(n + z²)].
    const zero = wilsonInterval(0, 10)!;
    expect(zero.low).toBe(0);
    expect(zero.high).toBeCloseTo((Z_95 * Z_95) / (10 + Z_95 * Z_95), 12);
    // n of n mirrors 0 of n.
    const all = wilsonInterval(10, 10)!;
    expect(all.high).toBe(1);
    expect(all.low).toBeCloseTo(1 - zero.high, 12);
  });

  it('has no interval without runs, and refuses impossible counts', () => {
    expect(wilsonInterval(0, 0)).toBeUndefined();
    expect(wilsonInterval(3, 2)).toBeUndefined();
  });

  it('covers the rate and narrows as n grows', () => {
    const small = wilsonInterval(30, 100)!;
    const large = wilsonInterval(3000, 10_000)!;
    expect(small.low).toBeLessThan(0.3);
    expect(small.high).toBeGreaterThan(0.3);
    expect(large.high - large.low).toBeLessThan((small.high - small.low) / 5);
  });
});

describe('two-proportion z-test', () => {
  it('gives the hand-computed z and p for 200/1000 against 150/1000', () => {
    // pooled 0.175; se = √(0.175 · 0.825 · (1/1000 + 1/1000)) = 0.0169926; z = 0.05 / se = 2.94245.
    const c = compareProportions({ successes: 200, n: 1000 }, { successes: 150, n: 1000 });
    expect(c.tooSmall).toBe(false);
    expect(c.difference).toBeCloseTo(0.05, 12);
    expect(c.lift).toBeCloseTo(1 / 3, 12);
    expect(c.z).toBeCloseTo(2.94245, 4);
    expect(c.pValue).toBeCloseTo(0.003256, 5);
  });

  it('is the chi-squared test of the 2×2 table: χ² = z², and the p-value is the same integral', () => {
    const cases = [
      [{ successes: 200, n: 1000 }, { successes: 150, n: 1000 }],
      [{ successes: 12, n: 40 }, { successes: 25, n: 45 }],
      [{ successes: 90, n: 300 }, { successes: 91, n: 310 }],
      [{ successes: 7, n: 20 }, { successes: 14, n: 20 }],
    ] as const;
    for (const [arm, control] of cases) {
      const c = compareProportions(arm, control);
      expect(c.tooSmall).toBe(false);
      expect(c.z! ** 2).toBeCloseTo(chiSquared(arm, control), 9);
      expect(c.pValue!).toBeCloseTo(2 * (1 - simpsonCdf(Math.abs(c.z!))), 10);
      // Direction: a worse arm has a negative z.
      expect(Math.sign(c.z!)).toBe(Math.sign(arm.successes / arm.n - control.successes / control.n));
    }
  });

  it(`says the sample is too small below ${MIN_EXPECTED} expected conversions or non-conversions per arm, and gives no p-value`, () => {
    const few = compareProportions({ successes: 3, n: 20 }, { successes: 1, n: 20 });
    expect(few).toMatchObject({ tooSmall: true, z: null, pValue: null });
    expect(few.reason).toMatch(/fewer than 5 expected conversions.*20 runs/);
    expect(few.difference).toBeCloseTo(0.1, 12);
    expect(few.lift).toBeCloseTo(2, 12);
    // Nearly everyone converts: too few expected non-conversions.
    expect(compareProportions({ successes: 19, n: 20 }, { successes: 20, n: 20 }).reason).toMatch(/non-conversions/);
    // Exactly at the threshold: 10/20 vs 10/20 expects 10 of each, 5/20 vs 5/20 expects 5.
    expect(compareProportions({ successes: 5, n: 20 }, { successes: 5, n: 20 })).toMatchObject({ tooSmall: false, z: 0, pValue: 1 });
    expect(compareProportions({ successes: 4, n: 20 }, { successes: 5, n: 20 }).tooSmall).toBe(true);
    expect(compareProportions({ successes: 0, n: 0 }, { successes: 5, n: 20 })).toMatchObject({ tooSmall: true, reason: 'the arm has no runs yet', lift: 0 - 1 });
    expect(compareProportions({ successes: 5, n: 20 }, { successes: 0, n: 0 })).toMatchObject({ tooSmall: true, reason: 'the control has no runs yet', lift: null });
  });

  it('has no relative lift against a control that converted nobody', () => {
    expect(compareProportions({ successes: 10, n: 40 }, { successes: 0, n: 40 }).lift).toBeNull();
  });

  it('refuses counts that are not a proportion', () => {
    expect(() => compareProportions({ successes: 5, n: 4 }, { successes: 1, n: 4 })).toThrow(/arm: 5 conversions of 4/);
    expect(() => compareProportions({ successes: 1, n: 4 }, { successes: -1, n: 4 })).toThrow(/control/);
  });
});
