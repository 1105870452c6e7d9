/**
 * Region folding, pure (no Node built-ins, no libphonenumber): contact writes fold the region they store, and the
 * journey compiler and the scoring model fold the values their rules compare with the same functions, so a rule
 * written `region in [北京, 华东]` and a contact written `北京市` or `上海` meet on the same canonical value.
 */

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
/**
 * The seven geographic macro-regions (七大地理分区) as China's statistics and most CRMs use them. A contact written
 * with a macro-region keeps it (folded to the Chinese name); a rule value naming one matches every province in it.
 */
export const MACRO_REGIONS: readonly { name: string; en: string; provinces: readonly string[]; aliases: readonly string[] }[] = [
  { name: '华北', en: 'North China', provinces: ['CN-BJ', 'CN-TJ', 'CN-HE', 'CN-SX', 'CN-NM'], aliases: ['华北地区', '華北', 'Huabei'] },
  { name: '东北', en: 'Northeast China', provinces: ['CN-LN', 'CN-JL', 'CN-HL'], aliases: ['东北地区', '東北', 'Dongbei'] },
  { name: '华东', en: 'East China', provinces: ['CN-SH', 'CN-JS', 'CN-ZJ', 'CN-AH', 'CN-FJ', 'CN-JX', 'CN-SD'], aliases: ['华东地区', '華東', 'Huadong'] },
  { name: '华中', en: 'Central China', provinces: ['CN-HA', 'CN-HB', 'CN-HN'], aliases: ['华中地区', '華中', 'Huazhong'] },
  { name: '华南', en: 'South China', provinces: ['CN-GD', 'CN-GX', 'CN-HI', 'CN-HK', 'CN-MO'], aliases: ['华南地区', '華南', 'Huanan'] },
  { name: '西南', en: 'Southwest China', provinces: ['CN-CQ', 'CN-SC', 'CN-GZ', 'CN-YN', 'CN-XZ'], aliases: ['西南地区', 'Xinan'] },
  { name: '西北', en: 'Northwest China', provinces: ['CN-SN', 'CN-GS', 'CN-QH', 'CN-NX', 'CN-XJ'], aliases: ['西北地区', 'Xibei'] },
];
const MACRO_BY_ALIAS = new Map<string, (typeof MACRO_REGIONS)[number]>();
for (const m of MACRO_REGIONS) for (const a of [m.name, m.en, ...m.aliases]) MACRO_BY_ALIAS.set(aliasKey(a), m);
const COUNTRY_CN = new Set(['cn', 'china', '中国', '中國', 'prc', 'chn']);

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
 * `北京` / `北京市` / `Beijing` / `beijing shi` / `BJ` / `CN-11` → `CN-BJ`; a macro-region to its Chinese name:
 * `East China` / `华东地区` → `华东`.
 * Unknown values are returned trimmed and otherwise unchanged (other countries' regions, cities…),
 * so normalizing never loses information.
 */
export function normalizeRegion(raw: string, opts: NormalizeRegionOptions = {}): string {
  const trimmed = typeof raw === 'string' ? raw.trim() : '';
  if (trimmed === '') return '';
  const key = aliasKey(trimmed);
  const hit = BY_ALIAS.get(key);
  if (hit) return hit;
  const macro = MACRO_BY_ALIAS.get(key);
  if (macro) return macro.name;
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

/**
 * What a rule's region value stands for, as the folded values a contact can hold: a province → its code; a
 * macro-region → itself and its provinces (`华东` → `华东`, `CN-SH`, `CN-JS`, …); the country China (`CN`, `China`,
 * `中国`) → `CN` and every province; anything else → itself, trimmed (`east`, `Bavaria`), so a coarse CRM value still
 * matches a contact holding exactly it.
 */
export function regionRuleValues(raw: string): string[] {
  const folded = normalizeRegion(raw);
  if (folded === '') return [];
  const macro = MACRO_BY_ALIAS.get(aliasKey(folded));
  if (macro) return [macro.name, ...macro.provinces];
  if (COUNTRY_CN.has(aliasKey(raw))) return ['CN', ...CN_REGIONS.map((r) => r.code)];
  return [folded];
}
