import { describe, expect, it } from 'vitest';
import { defaultMapping, ImportMapping, mappingIssues, mapRow } from '../../src/imports/mapping';
import { cleanRow } from '../../src/imports/rows';

const columns = ['crm_id', 'Email', 'Mobile', '省份', 'tags', 'signup', 'optin', 'optin_src', 'optin_at'];
const mapping = ImportMapping.parse({
  columns: {
    crm_id: 'externalId',
    Email: 'email',
    Mobile: 'phone',
    省份: { field: 'region', map: { 北京市: '北京' } },
    tags: { field: 'tags', split: '|', lower: true },
    signup: { field: 'attributes.signup', date: 'YYYY/MM/DD' },
    optin: { field: 'consent.email', map: { yes: 'opted_in', no: 'opted_out' } },
    optin_src: 'consent.source',
    optin_at: { field: 'consent.at', date: 'YYYY-MM-DD HH:mm' },
  },
});
const rec = (...f: string[]) => ({ f });
const clean = (...f: string[]) => cleanRow(rec(...f), { columns, mapping, country: 'CN' });

describe('import rows', () => {
  it('maps, transforms and normalizes a row as PUT /v1/contacts would', () => {
    const r = clean(' c1 ', ' Ada@Example.COM ', '138 0013 8000', '北京市', 'VIP| Trade Show |vip', '2024/3/9', 'yes', 'expo form', '2024-03-09 10:30');
    expect(r).toMatchObject({
      ok: true,
      externalId: 'c1',
      email: 'ada@example.com',
      phone: '+8613800138000',
      consentSource: 'expo form',
      consentAt: '2024-03-09T10:30:00.000Z',
      fields: { region: '北京', tags: ['vip', 'trade show'], attributes: { signup: '2024-03-09' }, consent: { email: 'opted_in' }, country: 'CN' },
    });
  });

  it('rejects a bad value naming its column and the reason', () => {
    expect(clean('c1', 'not-an-email', '', '', '', '', '', '', '')).toMatchObject({ ok: false, column: 'Email', reason: expect.stringMatching(/email/) });
    expect(clean('c1', '', '12', '', '', '', '', '', '')).toMatchObject({ ok: false, column: 'Mobile', reason: expect.stringMatching(/phone/) });
    expect(clean('c1', '', '', '', '', '2024/13/01', '', '', '')).toMatchObject({ ok: false, column: 'signup', reason: expect.stringMatching(/not a date/) });
    expect(clean('', '', '', '北京', '', '', '', '', '')).toMatchObject({ ok: false, column: null, reason: expect.stringMatching(/no CRM id, email or phone/) });
    expect(cleanRow(rec('c1', 'a@b.cn'), { columns, mapping, country: 'CN' })).toMatchObject({ ok: false, reason: 'has 2 fields; the header has 9' });
  });

  it('imports consent only with its source and time', () => {
    expect(clean('c1', 'a@b.cn', '', '', '', '', 'yes', '', '2024-03-09 10:30')).toMatchObject({ ok: false, column: 'optin_src', reason: expect.stringMatching(/source/) });
    expect(clean('c1', 'a@b.cn', '', '', '', '', 'maybe', 'form', '2024-03-09 10:30')).toMatchObject({ ok: false, column: 'optin', reason: expect.stringMatching(/not one of/) });
    const noMeta = ImportMapping.safeParse({ columns: { Email: 'email', optin: 'consent.email' } });
    expect(noMeta.success).toBe(false);
    expect(noMeta.error!.issues.map((i) => i.message).join()).toMatch(/consent.source/);
  });

  it('names the mapping field that does not fit', () => {
    expect(ImportMapping.safeParse({ columns: { Email: 'e-mail' } }).error!.issues[0]!.path).toEqual(['columns', 'Email']);
    expect(mappingIssues(ImportMapping.parse({ columns: { Mail: 'email' } }), columns)).toEqual([{ path: 'mapping.columns.Mail', message: expect.stringMatching(/does not have/) }]);
  });

  it('maps columns named like fields when no mapping is given', () => {
    expect(defaultMapping(['CRM_ID', 'first_name', 'E-mail', 'email', 'x']).columns).toEqual({ CRM_ID: 'externalId', first_name: 'firstName', 'E-mail': 'email' });
    expect(mapRow({ email: 'a@b.cn', tags: ['x', 'y'] }, { columns: { email: 'email', tags: 'tags' } })).toMatchObject({ ok: true, fields: { email: 'a@b.cn', tags: ['x', 'y'] } });
  });
});
