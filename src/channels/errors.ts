import { RESOLVED_MARKER } from '../net/outbound';

/**
 * The split every channel makes when a send fails, and what the activities act on: a transient error is thrown again
 * for Temporal to retry the activity later; a permanent one fails the step at once, because sending the same request
 * again cannot succeed.
 */
export type ChannelErrorKind = 'transient' | 'permanent';

/**
 * Base of every channel's send errors (SMTP, SMS, webhooks, chat). A channel declares its own fields (status, provider
 * code, response…) on an abstract subclass, and one transient and one permanent class under it, each with its name
 * and `kind`; activities tell them apart with `instanceof`.
 */
export abstract class ChannelError extends Error {
  abstract readonly kind: ChannelErrorKind;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The message of an HTTP request that got no response, which every HTTP channel treats as transient (the request may
 * have arrived; the channel's idempotency key makes the retry safe): `<label>: no response within <n>ms` for a
 * timeout, otherwise `<label>: network error: <message> (<code>)`, e.g. `(ECONNREFUSED)` from a refused connection.
 */
export function requestFailureMessage(err: unknown, label: string, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `${label}: no response within ${timeoutMs}ms`;
  }
  if (!(err instanceof Error)) return `${label}: network error: ${String(err)}`;
  // Node's own socket errors carry the code themselves; fetch's on their cause.
  const cause = (err as { cause?: unknown }).cause;
  const code = (err as { code?: unknown }).code ?? (typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined);
  return `${label}: network error: ${err.message}${code !== undefined && code !== null && code !== '' ? ` (${String(code)})` : ''}`;
}

/**
 * Marks where a channel error message quotes the receiver's response. What follows it is the receiver's text: ops
 * see it (GET /v1/runs/:id, the messages table); roles below ops get the message cut here ({@link withoutOpsDetail}).
 */
export const RESPONSE_BODY_MARKER = ' · response: ';

/**
 * A channel error message for roles below ops: without the receiver's response text and without the address a refused
 * host name resolved to, both of which can carry what a webhook URL reached inside.
 */
export function withoutOpsDetail(message: string): string {
  const cuts = [RESPONSE_BODY_MARKER, RESOLVED_MARKER].map((m) => message.indexOf(m)).filter((i) => i >= 0);
  return cuts.length === 0 ? message : message.slice(0, Math.min(...cuts));
}
