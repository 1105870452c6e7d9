import { describe, expect, it } from 'vitest';
import { parseEventProperties } from '../../console/src/editor/properties';

describe("the simulator's event properties, as typed", () => {
  it('reads key=value pairs: numbers, booleans and null typed, dotted keys nested, both semicolons and newlines', () => {
    expect(parseEventProperties('link_tag=product-a; amount=120；ok=true\nutm.campaign=spring; utm.medium=email; note=a=b; none=null')).toEqual({
      ok: true,
      properties: { link_tag: 'product-a', amount: 120, ok: true, utm: { campaign: 'spring', medium: 'email' }, note: 'a=b', none: null },
    });
    expect(parseEventProperties('  ')).toEqual({ ok: true, properties: undefined });
    // Text that only looks like a number in part stays text (a phone number with a plus, a version).
    expect(parseEventProperties('phone=+8613800000000; v=1.2.3; zip=007')).toEqual({ ok: true, properties: { phone: '+8613800000000', v: '1.2.3', zip: '007' } });
  });

  it('reads a JSON object as it is, and says what is wrong with anything else', () => {
    expect(parseEventProperties('{"plan": "pro", "seats": 3, "tags": ["a"]}')).toEqual({ ok: true, properties: { plan: 'pro', seats: 3, tags: ['a'] } });
    expect(parseEventProperties('["pro"]')).toEqual({ ok: false, problem: { kind: 'not_object' } });
    expect(parseEventProperties('{"plan": ')).toMatchObject({ ok: false, problem: { kind: 'json', detail: expect.any(String) } });
    expect(parseEventProperties('plan')).toEqual({ ok: false, problem: { kind: 'pair', pair: 'plan' } });
    expect(parseEventProperties('plan=pro; =x')).toEqual({ ok: false, problem: { kind: 'pair', pair: '=x' } });
  });
});
