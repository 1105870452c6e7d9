import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { signToken, verifyToken } from '../../src/channels/tokens';
import { ALPHABET, everySubstitution } from '../helpers/tokens';

const NOW = new Date('2030-01-01T00:00:00Z');

describe('tokens', () => {
  it('round-trips a payload and adds exp', () => {
    const t = signToken(['s1'], { u: 'https://example.com/?a=1&b=2', c: 42 }, 60, NOW);
    expect(t).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const r = verifyToken(['s1'], t, NOW);
    expect(r).toEqual({
      ok: true,
      payload: { u: 'https://example.com/?a=1&b=2', c: 42, exp: NOW.getTime() / 1000 + 60 },
    });
  });

  it('expires exactly at exp', () => {
    const t = signToken(['s1'], { a: 1 }, 10, NOW);
    expect(verifyToken(['s1'], t, NOW.getTime() + 9_999).ok).toBe(true);
    expect(verifyToken(['s1'], t, NOW.getTime() + 10_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('supports rotation: first secret signs, any verifies', () => {
    const old = signToken(['old'], { a: 1 }, 60, NOW);
    const fresh = signToken(['new', 'old'], { a: 2 }, 60, NOW);
    expect(verifyToken(['new', 'old'], old, NOW).ok).toBe(true);
    expect(verifyToken(['new', 'old'], fresh, NOW).ok).toBe(true);
    // the new token was signed with 'new', so a verifier that only knows 'old' rejects it
    expect(verifyToken(['old'], fresh, NOW)).toEqual({ ok: false, reason: 'tampered' });
    expect(verifyToken(['other'], old, NOW)).toEqual({ ok: false, reason: 'tampered' });
  });

  it('detects a modified payload', () => {
    const t = signToken(['s'], { admin: false }, 60, NOW);
    const [, sig] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ admin: true, exp: 9e9 })).toString('base64url');
    expect(verifyToken(['s'], `${forged}.${sig}`, NOW)).toEqual({ ok: false, reason: 'tampered' });
  });

  it('classifies malformed input', () => {
    for (const bad of ['', 'abc', 'a.b.c', 'a b.c', '.x', 'x.', '%%.%%']) {
      expect(verifyToken(['s'], bad, NOW)).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(verifyToken(['s'], 'abc.def', NOW)).toEqual({ ok: false, reason: 'tampered' });
  });

  it('rejects a correctly signed body that is not an object with exp', () => {
    // Only reachable by someone holding the secret; still must not crash.
    const body = Buffer.from('[1,2]').toString('base64url');
    const sig = createHmac('sha256', 's').update(body).digest('base64url');
    expect(verifyToken(['s'], `${body}.${sig}`, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses empty secrets and bad ttl', () => {
    expect(() => signToken([], {}, 60, NOW)).toThrow(/secret/);
    expect(() => signToken([''], {}, 60, NOW)).toThrow(/secret/);
    expect(() => verifyToken([], 'a.b', NOW)).toThrow(/secret/);
    expect(() => signToken(['s'], {}, 0, NOW)).toThrow(/ttl/);
  });

  it('refuses a signature whose last character only changes the unused trailing bits', () => {
    // 32 bytes take 43 base64url characters; the last carries 4 bits and 2 spare ones, so several letters decode alike.
    const t = signToken(['s'], { a: 1 }, 60, NOW);
    const last = ALPHABET.indexOf(t.at(-1)!);
    const sameBytes = t.slice(0, -1) + ALPHABET[last ^ 1];
    expect(Buffer.from(sameBytes.split('.')[1]!, 'base64url')).toEqual(Buffer.from(t.split('.')[1]!, 'base64url'));
    expect(verifyToken(['s'], sameBytes, NOW)).toEqual({ ok: false, reason: 'tampered' });
  });

  it('refuses a correctly signed payload part that is not canonical base64url', () => {
    // Only the secret's holder can make one; the text signed must still be the one canonical encoding.
    // 25 bytes: the last character has spare bits.
    const canonical = Buffer.from(JSON.stringify({ a: 12, exp: 9e9 })).toString('base64url');
    const last = ALPHABET.indexOf(canonical.at(-1)!);
    const odd = canonical.slice(0, -1) + ALPHABET[last ^ 1];
    expect(Buffer.from(odd, 'base64url')).toEqual(Buffer.from(canonical, 'base64url'));
    const sig = createHmac('sha256', 's').update(odd).digest('base64url');
    expect(verifyToken(['s'], `${odd}.${sig}`, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('property: every character of a real token, changed to every other base64url character, is refused', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 12 }), fc.integer())),
        (payload) => {
          delete (payload as Record<string, unknown>)['exp'];
          const t = signToken(['k'], payload, 60, NOW);
          expect(verifyToken(['k'], t, NOW).ok).toBe(true);
          for (const mutated of everySubstitution(t)) {
            const r = verifyToken(['k'], mutated, NOW);
            expect(r.ok, mutated).toBe(false);
          }
        },
      ),
      { numRuns: 10 },
    );
  });
});
