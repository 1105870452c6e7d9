/**
 * Normalization of contact identifiers before they are stored or matched, so that `Ada@Example.com `
 * and `ada@example.com`, or `138 0013 8000` and `+8613800138000`, are the same contact and the same
 * suppression-list entry.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

export type Normalized = { ok: true; value: string } | { ok: false; error: string };

// Pragmatic, not RFC 5322 in full: quoted local parts and IP-literal domains are legal but are
// essentially never real marketing recipients, and accepting them invites header-injection bugs.
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+)*$/;
const DOMAIN_LABEL = /^(?!-)[a-z0-9\u0080-\uFFFF-]{1,63}(?<!-)$/;

/**
 * Trims, lower-cases (the whole address: providers treat local parts case-insensitively in practice,
 * and dedupe must not depend on how a form capitalised it) and validates.
 */
export function normalizeEmail(raw: string): Normalized {
  if (typeof raw !== 'string') return { ok: false, error: 'email must be a string' };
  const value = raw.normalize('NFC').trim().toLowerCase();
  if (value === '') return { ok: false, error: 'email is empty' };
  if (value.length > 254) return { ok: false, error: 'email is longer than 254 characters' };
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return { ok: false, error: `"${raw.trim()}" is not an email address` };
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local)) return { ok: false, error: `"${raw.trim()}" has an invalid local part` };
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => DOMAIN_LABEL.test(l)) || /^\d+$/.test(labels.at(-1)!)) {
    return { ok: false, error: `"${raw.trim()}" has an invalid domain` };
  }
  return { ok: true, value };
}

/**
 * Any common notation (spaces, dashes, brackets, full-width digits, 00/+ prefixes) → E.164.
 * `defaultRegion` is used for numbers without a country prefix (`138 0013 8000` + CN).
 * Uses libphonenumber's full metadata, so numbers with an impossible prefix are rejected, not just
 * wrong lengths.
 */
export function normalizePhone(raw: string, defaultRegion?: string): Normalized {
  if (typeof raw !== 'string' || raw.trim() === '') return { ok: false, error: 'phone number is empty' };
  const region = defaultRegion?.trim().toUpperCase();
  const phone = parsePhoneNumberFromString(raw.trim(), region ? { defaultCountry: region as CountryCode } : undefined);
  if (!phone) return { ok: false, error: `"${raw.trim()}" is not a phone number${region ? '' : ' (no default region given)'}` };
  if (!phone.isValid()) return { ok: false, error: `"${raw.trim()}" is not a valid phone number for ${phone.country ?? region ?? 'any region'}` };
  return { ok: true, value: phone.number };
}

/**
 * Canonical form chosen for regions: ISO 3166-2 codes (`CN-BJ`), because they are stable, language-
 * neutral, what analytics tools and most geo-IP databases emit, and survive a UI language switch.
 * Display names belong to the presentation layer ({@link CN_REGIONS} has them).
 */
export interface RegionInfo {
  code: string;
  /** Official Chinese name. */
  zh: string;
  /** Pinyin / common English name. */
  en: string;
  /** GB/T 2260 numeric prefix, used by older ISO 3166-2:CN codes (CN-11). */
  gb: string;
  /** Extra aliases: short names, one-character abbreviations, traditional characters, English exonyms. */
  aliases: string[];
}

export const CN_REGIONS: readonly RegionInfo[] = [
  { code: 'CN-BJ', zh: '北京市', en: 'Beijing', gb: '11', aliases: ['北京', '京', 'Peking'] },
  { code: 'CN-TJ', zh: '天津市', en: 'Tianjin', gb: '12', aliases: ['天津', '津'] },
  { code: 'CN-HE', zh: '河北省', en: 'Hebei', gb: '13', aliases: ['河北', '冀'] },
  { code: 'CN-SX', zh: '山西省', en: 'Shanxi', gb: '14', aliases: ['山西', '晋', '晉'] },
  { code: 'CN-NM', zh: '内蒙古自治区', en: 'Inner Mongolia', gb: '15', aliases: ['内蒙古', '內蒙古', '内蒙', '蒙', 'Nei Mongol', 'Neimenggu', 'Nei Menggu'] },
  { code: 'CN-LN', zh: '辽宁省', en: 'Liaoning', gb: '21', aliases: ['辽宁', '遼寧', '辽'] },
  { code: 'CN-JL', zh: '吉林省', en: 'Jilin', gb: '22', aliases: ['吉林', '吉'] },
  { code: 'CN-HL', zh: '黑龙江省', en: 'Heilongjiang', gb: '23', aliases: ['黑龙江', '黑龍江', '黑'] },
  { code: 'CN-SH', zh: '上海市', en: 'Shanghai', gb: '31', aliases: ['上海', '沪', '滬'] },
  { code: 'CN-JS', zh: '江苏省', en: 'Jiangsu', gb: '32', aliases: ['江苏', '江蘇', '苏', '蘇'] },
  { code: 'CN-ZJ', zh: '浙江省', en: 'Zhejiang', gb: '33', aliases: ['浙江', '浙'] },
  { code: 'CN-AH', zh: '安徽省', en: 'Anhui', gb: '34', aliases: ['安徽', '皖'] },
  { code: 'CN-FJ', zh: '福建省', en: 'Fujian', gb: '35', aliases: ['福建', '闽', '閩'] },
  { code: 'CN-JX', zh: '江西省', en: 'Jiangxi', gb: '36', aliases: ['江西', '赣', '贛'] },
  { code: 'CN-SD', zh: '山东省', en: 'Shandong', gb: '37', aliases: ['山东', '山東', '鲁', '魯'] },
  { code: 'CN-HA', zh: '河南省', en: 'Henan', gb: '41', aliases: ['河南', '豫'] },
  { code: 'CN-HB', zh: '湖北省', en: 'Hubei', gb: '42', aliases: ['湖北', '鄂'] },
  { code: 'CN-HN', zh: '湖南省', en: 'Hunan', gb: '43', aliases: ['湖南', '湘'] },
  { code: 'CN-GD', zh: '广东省', en: 'Guangdong', gb: '44', aliases: ['广东', '廣東', '粤', '粵'] },
  { code: 'CN-GX', zh: '广西壮族自治区', en: 'Guangxi', gb: '45', aliases: ['广西', '廣西', '桂', 'Guangxi Zhuang'] },
  { code: 'CN-HI', zh: '海南省', en: 'Hainan', gb: '46', aliases: ['海南', '琼', '瓊'] },
  { code: 'CN-CQ', zh: '重庆市', en: 'Chongqing', gb: '50', aliases: ['重庆', '重慶', '渝'] },
  { code: 'CN-SC', zh: '四川省', en: 'Sichuan', gb: '51', aliases: ['四川', '川', '蜀'] },
  { code: 'CN-GZ', zh: '贵州省', en: 'Guizhou', gb: '52', aliases: ['贵州', '貴州', '黔', '贵'] },
  { code: 'CN-YN', zh: '云南省', en: 'Yunnan', gb: '53', aliases: ['云南', '雲南', '滇', '云'] },
  { code: 'CN-XZ', zh: '西藏自治区', en: 'Xizang', gb: '54', aliases: ['西藏', '藏', 'Tibet'] },
  { code: 'CN-SN', zh: '陕西省', en: 'Shaanxi', gb: '61', aliases: ['陕西', '陝西', '陕', '秦'] },
  { code: 'CN-GS', zh: '甘肃省', en: 'Gansu', gb: '62', aliases: ['甘肃', '甘肅', '甘', '陇', '隴'] },
  { code: 'CN-QH', zh: '青海省', en: 'Qinghai', gb: '63', aliases: ['青海', '青'] },
  { code: 'CN-NX', zh: '宁夏回族自治区', en: 'Ningxia', gb: '64', aliases: ['宁夏', '寧夏', '宁', 'Ningxia Hui'] },
  { code: 'CN-XJ', zh: '新疆维吾尔自治区', en: 'Xinjiang', gb: '65', aliases: ['新疆', '新', 'Xinjiang Uygur', 'Xinjiang Uyghur'] },
  { code: 'CN-TW', zh: '台湾省', en: 'Taiwan', gb: '71', aliases: ['台湾', '臺灣', '台灣', '台'] },
  { code: 'CN-HK', zh: '香港特别行政区', en: 'Hong Kong', gb: '91', aliases: ['香港', '港', 'Hongkong', 'HKSAR', '香港特別行政區'] },
  { code: 'CN-MO', zh: '澳门特别行政区', en: 'Macau', gb: '92', aliases: ['澳门', '澳門', '澳', 'Macao', 'Aomen', '澳門特別行政區'] },
];

// Suffixes that do not change which division is meant. Longest first so 壮族自治区 wins over 自治区.
const ZH_SUFFIXES = ['维吾尔自治区', '維吾爾自治區', '壮族自治区', '壯族自治區', '回族自治区', '回族自治區', '特别行政区', '特別行政區', '自治区', '自治區', '省', '市'];
const EN_SUFFIXES = ['specialadministrativeregion', 'autonomousregion', 'municipality', 'province', 'zizhiqu', 'sheng', 'city', 'shi', 'sar'];

/** Lower-case, drop spaces/punctuation, drop administrative suffixes, fold 'China' prefixes. */
function aliasKey(raw: string): string {
  let s = raw.normalize('NFKC').trim().toLowerCase().replace(/[\s'’`.,_\-()（）·]+/g, '');
  s = s.replace(/^(中国|中國|china|prc|cn)(?=[^a-z0-9]|[a-z]{3,})/u, '');
  for (let changed = true; changed; ) {
    changed = false;
    for (const suf of [...ZH_SUFFIXES, ...EN_SUFFIXES]) {
      // Keep at least two characters: single-character abbreviations (京, 新…) only match on their
      // own, otherwise a town like 新市 would fold into 新疆.
      if (s.length - suf.length >= 2 && s.endsWith(suf)) {
        s = s.slice(0, -suf.length);
        changed = true;
        break;
      }
    }
  }
  return s;
}

const BY_ALIAS = new Map<string, string>();
const BARE_CODES = new Map<string, string>();
for (const r of CN_REGIONS) {
  const short = r.code.slice(3);
  for (const a of [r.zh, r.en, ...r.aliases]) BY_ALIAS.set(aliasKey(a), r.code);
  BY_ALIAS.set(`cn${short.toLowerCase()}`, r.code); // CN-BJ, cn_bj, CNBJ
  BY_ALIAS.set(`cn${r.gb}`, r.code); // CN-11 (pre-2017 ISO 3166-2:CN)
  BARE_CODES.set(short.toLowerCase(), r.code);
}
// 'Shanxi' without tone marks is ambiguous in speech; the spellings Shanxi/Shaanxi are the official
// romanisations that keep 山西/陕西 apart, so no extra folding is done for them.

export interface NormalizeRegionOptions {
  /**
   * Country the value belongs to, for interpreting bare two-letter codes (`BJ`, `GD`). These collide
   * with other countries' subdivision codes (`SC` is also South Carolina, `HI` Hawaii), so they are
   * folded only when the country is China. Pass the contact's country, or null to never fold them.
   * @default 'CN'
   */
  country?: string | null;
}

/**
 * Folds the many spellings of a Chinese provincial-level division to its ISO 3166-2 code:
 * `北京` / `北京市` / `Beijing` / `beijing shi` / `BJ` / `CN-11` → `CN-BJ`.
 * Unknown values are returned trimmed and otherwise unchanged (other countries' regions, cities…),
 * so normalizing never loses information.
 */
export function normalizeRegion(raw: string, opts: NormalizeRegionOptions = {}): string {
  const trimmed = typeof raw === 'string' ? raw.trim() : '';
  if (trimmed === '') return '';
  const key = aliasKey(trimmed);
  const hit = BY_ALIAS.get(key);
  if (hit) return hit;
  const country = opts.country === undefined ? 'CN' : opts.country;
  if (country?.toUpperCase() === 'CN' && /^[a-z]{2}$/i.test(trimmed)) {
    const bare = BARE_CODES.get(trimmed.toLowerCase());
    if (bare) return bare;
  }
  return trimmed;
}

/** Display name for a canonical code, e.g. regionName('CN-GD', 'zh') → '广东省'. */
export function regionName(code: string, lang: 'zh' | 'en' = 'en'): string | undefined {
  const r = CN_REGIONS.find((x) => x.code === code.toUpperCase());
  return r ? r[lang] : undefined;
}
