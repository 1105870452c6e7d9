/**
 * Postgres refusing a value, as opposed to failing: a data exception (SQLSTATE class 22 — out of range, untranslatable
 * character, invalid byte sequence, bad text representation…) or a program limit (class 54 — a value too large to
 * index, a statement too complex). Retrying such a statement can never succeed, and when a request carried the
 * value it is the request that is wrong.
 */
export type InputDataError = { sqlState: string; message: string };

/** The data exception behind `err` (drizzle wraps the driver's error as `cause`), or undefined for any other failure. */
export function inputDataError(err: unknown): InputDataError | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && typeof e === 'object' && e !== null; i++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    // 22012 (division by zero) is our arithmetic, not a value someone sent.
    if (typeof code === 'string' && /^(22[0-9A-Z]{3}|54[0-9A-Z]{3})$/.test(code) && code !== '22012') {
      return { sqlState: code, message: typeof message === 'string' ? message : 'the database refused a value' };
    }
    e = cause;
  }
  return undefined;
}
