import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { messageOfVerpAddress, verpAddress, verpMessageIds } from '../../src/deliverability/verp';

const SECRETS = ['verp-test-secret-0123456789abcdef0123456789'];
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

describe('VERP return paths', () => {
  it('names the message in a signed local part within the RFC 5321 limit, and reads it back', () => {
    for (let i = 0; i < 50; i++) {
      const id = randomUUID();
      const address = verpAddress(SECRETS, 'bounces.example.com', id);
      expect(address).toMatch(/^bounces\+[a-z2-7]{42}@bounces\.example\.com$/);
      expect(address.indexOf('@')).toBeLessThanOrEqual(64);
      expect(messageOfVerpAddress(SECRETS, address)).toBe(id);
      // Mail servers may fold a local part's case; the domain is case-insensitive anyway.
      expect(messageOfVerpAddress(SECRETS, address.toUpperCase())).toBe(id);
    }
  });

  it('refuses every single-character change of real tokens, the canonical-form ones included', () => {
    for (let n = 0; n < 20; n++) {
      const id = randomUUID();
      const address = verpAddress(SECRETS, 'b.example.cn', id);
      const start = 'bounces+'.length;
      const end = address.indexOf('@');
      for (let at = start; at < end; at++) {
        for (const c of ALPHABET) {
          if (c === address[at]) continue;
          const changed = `${address.slice(0, at)}${c}${address.slice(at + 1)}`;
          expect(messageOfVerpAddress(SECRETS, changed), changed).toBeUndefined();
        }
      }
      // Shorter, longer, another secret, another prefix: refused too.
      expect(messageOfVerpAddress(SECRETS, address.replace('@', 'a@'))).toBeUndefined();
      expect(messageOfVerpAddress(SECRETS, `${address.slice(0, end - 1)}${address.slice(end)}`)).toBeUndefined();
      expect(messageOfVerpAddress(['another-secret-0123456789abcdef0123456789'], address)).toBeUndefined();
      expect(messageOfVerpAddress(SECRETS, address.replace('bounces+', 'bounce+'))).toBeUndefined();
    }
  });

  it('verifies with a previous secret during rotation; reads only VERP-shaped addresses among many', () => {
    const id = randomUUID();
    const old = verpAddress(['old-secret-0123456789abcdef0123456789ab'], 'b.example.com', id);
    expect(messageOfVerpAddress(['new-secret-0123456789abcdef0123456789ab', 'old-secret-0123456789abcdef0123456789ab'], old)).toBe(id);
    const mine = verpAddress(SECRETS, 'b.example.com', id);
    const noise = Array.from({ length: 10 }, (_, i) => `user${i}@example.com`);
    expect(verpMessageIds(SECRETS, [...noise, undefined, null, 'bounces+junk@b.example.com', mine, mine])).toEqual([id]);
    expect(() => verpAddress(SECRETS, 'b.example.com', 'not-a-uuid')).toThrow(/not a message id/);
  });
});
