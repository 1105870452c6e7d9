import { describe, expect, it } from 'vitest';
import { logFormat } from '../src/logger';

describe('logFormat', () => {
  it('pretty-prints at a terminal outside production (NODE_ENV unset means development)', () => {
    for (const nodeEnv of [undefined, 'development', 'test']) expect(logFormat({ isTTY: true, nodeEnv })).toBe('pretty');
  });

  it('writes JSON in production, even at a terminal', () => {
    expect(logFormat({ isTTY: true, nodeEnv: 'production' })).toBe('json');
  });

  it('writes JSON whenever stdout is not a terminal (pipes, log collectors, tests, CI), whatever NODE_ENV says', () => {
    for (const isTTY of [false, undefined]) {
      for (const nodeEnv of [undefined, 'development', 'test', 'production']) expect(logFormat({ isTTY, nodeEnv })).toBe('json');
    }
  });
});
