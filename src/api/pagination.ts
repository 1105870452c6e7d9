import { z } from 'zod';
import { ValidationError } from '../errors';

// Within the range of a JS Date: a forged `t` must not reach SQL as an Invalid Date.
const Cursor = z.object({ t: z.number().min(-8.64e15).max(8.64e15) }).loose();

/** Opaque cursors: clients pass back what they were given and never build one. */
export function encodeCursor(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor(cursor: string): z.infer<typeof Cursor> {
  try {
    return Cursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new ValidationError('The cursor is not one this API issued.', [{ path: 'query.cursor', message: 'invalid cursor' }]);
  }
}
