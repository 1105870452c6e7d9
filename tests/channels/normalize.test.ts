import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CN_REGIONS, normalizeEmail, normalizePhone, normalizeRegion, regionName } from '../../src/channels/normalize';

describe('normalizeEmail', () => {
  it('trims and lower-cases', () => {
    expect(normalizeEmail('  Ada.Lovelace+News@Example.COM \n')).toEqual({ ok: true, value: 'ada.lovelace+news@example.com' });
    expect(normalizeEmail('用户@例子.广告')).toEqual({ ok: true, value: '用户@例子.广告' });
  });

  it('rejects invalid addresses with a reason', () => {
    for (const bad of ['', '   ', 'plain', '@example.com', 'a@', 'a@b', 'a@@b.com', 'a b@c.com', '.a@b.com', 'a..b@c.com', 'a.@b.com',
      'a@-b.com', 'a@b-.com', 'a@b..com', 'a@1.2.3.4', 'a@b.com>\r\nBcc: x@y.com', `${'x'.repeat(65)}@b.com`, `a@${'b'.repeat(250)}.com`]) {
      const r = normalizeEmail(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
    }
  });

  it('property: normalization is idempotent', () => {
    fc.assert(
      fc.property(fc.emailAddress(), fc.constantFrom('', ' ', '\t'), (e, pad) => {
        const once = normalizeEmail(pad + e.toUpperCase() + pad);
        if (once.ok) expect(normalizeEmail(once.value)).toEqual(once);
      }),
    );
  });
});

describe('normalizePhone', () => {
  it('Chinese mobile numbers in common notations → E.164', () => {
    for (const raw of ['138 0013 8000', '13800138000', '138-0013-8000', '+86 138 0013 8000', '0086 13800138000', '(+86)13800138000', '１３８００１３８０００']) {
      expect(normalizePhone(raw, 'CN'), raw).toEqual({ ok: true, value: '+8613800138000' });
    }
    expect(normalizePhone('010-6552 9988', 'CN')).toEqual({ ok: true, value: '+861065529988' }); // Beijing landline
  });

  it('uses the default region only for national numbers', () => {
    expect(normalizePhone('+1 (415) 555-2671', 'CN')).toEqual({ ok: true, value: '+14155552671' });
    expect(normalizePhone('(415) 555-2671', 'us')).toEqual({ ok: true, value: '+14155552671' });
    expect(normalizePhone('020 7946 0018', 'GB')).toEqual({ ok: true, value: '+442079460018' });
  });

  it('rejects invalid numbers with a reason', () => {
    for (const [raw, region] of [['', 'CN'], ['abc', 'CN'], ['123', 'CN'], ['138 0013 800', 'CN'], ['13800138000', undefined], ['+86 100 0000 0000', 'CN']] as const) {
      const r = normalizePhone(raw, region);
      expect(r.ok, `${raw} ${region}`).toBe(false);
    }
    const r = normalizePhone('13800138000');
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/no default region/) });
  });
});

describe('normalizeRegion', () => {
  it('folds Beijing aliases to CN-BJ', () => {
    for (const raw of ['北京', '北京市', '  北京市 ', 'Beijing', 'BEIJING', 'beijing shi', 'Beijing City', 'Beijing Municipality', 'BJ', 'bj', 'CN-BJ', 'cn_bj', 'CN-11', '京', '中国北京', 'China, Beijing', 'Peking']) {
      expect(normalizeRegion(raw), raw).toBe('CN-BJ');
    }
  });

  it('covers every provincial-level division by Chinese name, short name and pinyin', () => {
    expect(CN_REGIONS).toHaveLength(34);
    for (const r of CN_REGIONS) {
      expect(normalizeRegion(r.zh), r.zh).toBe(r.code);
      expect(normalizeRegion(r.en), r.en).toBe(r.code);
      expect(normalizeRegion(r.en.toUpperCase()), r.en).toBe(r.code);
      expect(normalizeRegion(r.code.toLowerCase()), r.code).toBe(r.code);
      expect(normalizeRegion(`CN-${r.gb}`), r.gb).toBe(r.code);
      for (const a of r.aliases) expect(normalizeRegion(a), a).toBe(r.code);
    }
    // codes are unique
    expect(new Set(CN_REGIONS.map((r) => r.code)).size).toBe(34);
  });

  it('strips administrative suffixes in Chinese and English', () => {
    const cases: Record<string, string> = {
      广东省: 'CN-GD', 广东: 'CN-GD', 'Guangdong Province': 'CN-GD', 'guangdong sheng': 'CN-GD', 粤: 'CN-GD',
      广西壮族自治区: 'CN-GX', 广西: 'CN-GX', 'Guangxi Zhuang Autonomous Region': 'CN-GX',
      新疆维吾尔自治区: 'CN-XJ', 'Xinjiang Uyghur Autonomous Region': 'CN-XJ',
      宁夏回族自治区: 'CN-NX', 内蒙古自治区: 'CN-NM', 'Inner Mongolia': 'CN-NM', 'Nei Mongol': 'CN-NM',
      西藏自治区: 'CN-XZ', Tibet: 'CN-XZ',
      香港特别行政区: 'CN-HK', 'Hong Kong SAR': 'CN-HK', 'Hong Kong': 'CN-HK', HongKong: 'CN-HK', 澳門: 'CN-MO', Macao: 'CN-MO',
      上海市: 'CN-SH', 沪: 'CN-SH', 重庆市: 'CN-CQ', 'Chongqing Shi': 'CN-CQ', 黑龍江省: 'CN-HL',
    };
    for (const [raw, code] of Object.entries(cases)) expect(normalizeRegion(raw), raw).toBe(code);
  });

  it('keeps 山西 (Shanxi, CN-SX) and 陕西 (Shaanxi, CN-SN) apart', () => {
    expect(normalizeRegion('山西省')).toBe('CN-SX');
    expect(normalizeRegion('Shanxi')).toBe('CN-SX');
    expect(normalizeRegion('陕西省')).toBe('CN-SN');
    expect(normalizeRegion('Shaanxi')).toBe('CN-SN');
  });

  it('passes unknown values through, trimmed; does not over-fold', () => {
    expect(normalizeRegion('  Bavaria ')).toBe('Bavaria');
    expect(normalizeRegion('California')).toBe('California');
    expect(normalizeRegion('新市')).toBe('新市'); // a town, not 新疆
    expect(normalizeRegion('深圳市')).toBe('深圳市'); // a city, not a province
    expect(normalizeRegion('')).toBe('');
    expect(normalizeRegion('   ')).toBe('');
  });

  it('bare two-letter codes fold only for China', () => {
    expect(normalizeRegion('SC')).toBe('CN-SC');
    expect(normalizeRegion('SC', { country: 'US' })).toBe('SC'); // South Carolina
    expect(normalizeRegion('HI', { country: null })).toBe('HI');
    expect(normalizeRegion('gd', { country: 'cn' })).toBe('CN-GD');
    // unambiguous names still fold whatever the country
    expect(normalizeRegion('Guangdong', { country: 'US' })).toBe('CN-GD');
  });

  it('regionName', () => {
    expect(regionName('CN-GD', 'zh')).toBe('广东省');
    expect(regionName('cn-bj')).toBe('Beijing');
    expect(regionName('XX-YY')).toBeUndefined();
  });
});
