/** The viewer's time zone: every time the console shows is in it, labelled. */
export const VIEWER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A date and time in the viewer's zone, with the zone's short name (e.g. "6/1/2026, 4:00:01 PM GMT+8"). */
export function when(iso: string | Date | null | undefined, locale: string): string {
  if (iso === null || iso === undefined) return '—';
  return new Date(iso).toLocaleString(locale, { timeZoneName: 'short' });
}

export function num(x: number | null | undefined, locale: string): string {
  return x === null || x === undefined ? '—' : new Intl.NumberFormat(locale).format(x);
}

export function pct(x: number | null | undefined, locale: string): string {
  return x === null || x === undefined ? '—' : new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(x);
}
