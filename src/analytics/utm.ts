/**
 * UTM values of an event: `utm_campaign` / `utm_source` / `utm_medium` properties (flat, or under `utm` as
 * `campaign`/`source`/`medium`), or the query string of a tracked link's destination (`url` of email.clicked). An event
 * is a campaign touch only when it names a campaign.
 */
export type Utm = { campaign: string; source: string | null; medium: string | null };

const clean = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

export function utmOf(type: string, properties: Record<string, unknown>): Utm | undefined {
  const nested = typeof properties.utm === 'object' && properties.utm !== null ? (properties.utm as Record<string, unknown>) : {};
  let campaign = clean(properties.utm_campaign) ?? clean(nested.campaign);
  let source = clean(properties.utm_source) ?? clean(nested.source);
  let medium = clean(properties.utm_medium) ?? clean(nested.medium);
  if (!campaign && type === 'email.clicked' && typeof properties.url === 'string') {
    try {
      const q = new URL(properties.url).searchParams;
      campaign = clean(q.get('utm_campaign'));
      source = clean(q.get('utm_source'));
      medium = clean(q.get('utm_medium'));
    } catch {
      return undefined;
    }
  }
  return campaign ? { campaign, source, medium } : undefined;
}
