/**
 * What may reach a log line. Logs are shipped, kept and read far more widely than the database, so no contact's
 * email address or phone number goes there: errors are reduced to their kind and code (a failed query to its
 * statement, never its parameters; a Postgres error to its SQLSTATE and constraint, never its `detail`, which quotes
 * the row), and every string that is logged has email addresses and phone numbers masked as a last line of defence.
 */

const EMAIL = /[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.[\p{L}]{2,}/gu;
/** `+` and 7–15 digits with separators (E.164 and international forms). */
const INTERNATIONAL_PHONE = /\+\(?\d[\d\s().-]{5,20}\d/g;
/** National forms: `(415) 555-0173`, `415.555.0173`, `0171 5550173`. */
const NATIONAL_PHONE = /(?<![\w-])\(?\d{2,5}\)?[\s.-]\d{3,4}[\s.-]?\d{3,4}(?![\w-])/g;
/** Bare digit runs long enough to be a phone number (not a date, a port or a count), outside ids such as UUIDs. */
const DIGITS = /(?<![\w-])\d{9,15}(?![\w-])/g;

export function maskPersonalData(text: string): string {
  return text.replace(EMAIL, '[email]').replace(INTERNATIONAL_PHONE, '[phone]').replace(NATIONAL_PHONE, '[phone]').replace(DIGITS, '[phone]');
}

/** Masks every string inside a value (objects and arrays copied, at most `depth` levels; deeper is dropped). */
export function maskDeep(value: unknown, depth = 8): unknown {
  if (typeof value === 'string') return maskPersonalData(value);
  if (value instanceof Error) return safeError(value);
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Date) return value;
  if (depth <= 0) return '[nested]';
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = maskDeep(v, depth - 1);
  return out;
}

/**
 * A query's name for the logs: the verb and the first table, e.g. `insert into contacts`, `select from api_keys`
 * (enough to find it in the code; the parameters stay out, and so does the rest of the text).
 */
export function statementName(query: string): string {
  const q = query.replace(/\s+/g, ' ').trim();
  const verb = /^(with|select|insert into|update|delete from)\b/i.exec(q)?.[1]?.toLowerCase() ?? 'query';
  const table =
    verb === 'insert into' || verb === 'update' || verb === 'delete from'
      ? new RegExp(`^${verb} "?([\\w.]+)"?`, 'i').exec(q)?.[1]
      : / from "?([\w.]+)"?/i.exec(q)?.[1];
  return table ? `${verb === 'select' || verb === 'with' ? `${verb} from` : verb} ${table}` : verb;
}

export type SafeError = {
  type: string;
  message: string;
  code?: string | number;
  statement?: string;
  constraint?: string;
  table?: string;
  column?: string;
  responseCode?: number;
  failureType?: string;
  nonRetryable?: boolean;
  stack?: string;
  cause?: SafeError;
};

const isPgError = (e: Record<string, unknown>) => typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && 'severity' in e;

/**
 * An error as the logs may show it. A failed drizzle query becomes its statement name and its cause; a Postgres error
 * its SQLSTATE, constraint, table and column (its message and `detail` quote the values); SMTP and HTTP errors their
 * codes; every other message is masked. Custom fields such as drizzle's `params`, nodemailer's `rejected` recipients
 * or a provider's response body are not copied.
 */
export function safeError(err: unknown, depth = 4): SafeError {
  if (!(err instanceof Error) && (typeof err !== 'object' || err === null)) return { type: typeof err, message: maskPersonalData(String(err)) };
  const e = err as Error & Record<string, unknown>;
  // node-postgres names its errors 'error'.
  const type = isPgError(e) ? 'DatabaseError' : (e.name && e.name !== 'Error' ? e.name : e.constructor?.name) || 'Error';
  const out: SafeError = { type, message: '' };
  if (typeof e.query === 'string' && 'params' in e) {
    out.statement = statementName(e.query);
    out.message = `query failed: ${out.statement}`;
  } else if (isPgError(e)) {
    out.message = `database error ${String(e.code)}${typeof e.constraint === 'string' ? ` (${e.constraint})` : ''}`;
  } else {
    out.message = maskPersonalData(String(e.message ?? ''));
  }
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  for (const k of ['constraint', 'table', 'column'] as const) if (typeof e[k] === 'string') out[k] = e[k];
  if (typeof e.responseCode === 'number') out.responseCode = e.responseCode;
  // Temporal failures: ApplicationFailure's type and retry flag.
  if (typeof e.type === 'string') out.failureType = e.type;
  if (typeof e.nonRetryable === 'boolean') out.nonRetryable = e.nonRetryable;
  if (typeof e.stack === 'string') {
    // The first lines of a stack repeat the message; only the frames are kept.
    const frames = e.stack.split('\n').filter((l) => /^\s+at /.test(l));
    if (frames.length) out.stack = `${type}: ${out.message}\n${frames.map(maskPersonalData).join('\n')}`;
  }
  if (e.cause !== undefined && e.cause !== null && depth > 0) out.cause = safeError(e.cause, depth - 1);
  return out;
}
