import { createContext, useCallback, useContext } from 'react';

/** The viewer's time zone: times are shown in it where no journey is in context. */
export const VIEWER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * The zone times are shown in below this provider: a journey's page (and a run's, a launch's) provides the journey's
 * settings.timezone; elsewhere it is the viewer's.
 */
export const TimeZoneContext = createContext<string>(VIEWER_ZONE);

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string, seconds: boolean): Intl.DateTimeFormat {
  const k = `${zone}|${seconds}`;
  let f = formatters.get(k);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      ...(seconds ? { second: '2-digit' as const } : {}),
      hourCycle: 'h23',
    });
    formatters.set(k, f);
  }
  return f;
}

/**
 * The one way the console writes a time: `2026-12-07 09:00 (Asia/Shanghai)` — year-month-day and 24-hour time in
 * `zone`, with the zone named, the same in every language (no "PM", no "GMT+8" that hides which rules apply).
 */
export function timeIn(iso: string | Date | null | undefined, zone: string = VIEWER_ZONE, opts: { seconds?: boolean; label?: boolean } = {}): string {
  if (iso === null || iso === undefined) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const p = Object.fromEntries(formatter(zone, opts.seconds ?? false).formatToParts(d).map((x) => [x.type, x.value]));
  const text = `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${opts.seconds ? `:${p.second}` : ''}`;
  return opts.label === false ? text : `${text} (${zone})`;
}

/** `timeIn` in the zone of the nearest TimeZoneContext. */
export function useTimeIn(): { zone: string; timeIn: (iso: string | Date | null | undefined, opts?: { seconds?: boolean; label?: boolean }) => string } {
  const zone = useContext(TimeZoneContext);
  return { zone, timeIn: useCallback((iso, opts) => timeIn(iso, zone, opts), [zone]) };
}

export function num(x: number | null | undefined, locale: string): string {
  return x === null || x === undefined ? '—' : new Intl.NumberFormat(locale).format(x);
}

export function pct(x: number | null | undefined, locale: string): string {
  return x === null || x === undefined ? '—' : new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(x);
}
