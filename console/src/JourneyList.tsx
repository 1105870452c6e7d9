import { useEffect, useState } from 'react';
import { api, type JourneySummary, type Live } from './api';
import { useT } from './i18n';

type Row = JourneySummary & { live?: Live };

export function JourneyList({ onError }: { onError: (err: unknown) => void }) {
  const { t, m, locale } = useT();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const { items } = await api.journeys();
        const lives = await Promise.all(items.map((j) => api.live(j.id).catch(() => undefined)));
        if (!stop) setRows(items.map((j, i) => ({ ...j, ...(lives[i] ? { live: lives[i] } : {}) })));
      } catch (err) {
        onError(err);
        if (!stop) setError((err as Error).message);
      }
    };
    void load();
    return () => {
      stop = true;
    };
  }, [onError]);
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(x));
  const n = (x: number | undefined) => (x === undefined ? '—' : new Intl.NumberFormat(locale).format(x));
  return (
    <section>
      <h1>{m.journeys}</h1>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {!rows && !error && <p>{m.loading}</p>}
      {rows && rows.length === 0 && <p>{m.none}</p>}
      {rows && rows.length > 0 && (
        <table className="journeys">
          <thead>
            <tr>
              <th scope="col">{m.id}</th>
              <th scope="col">{m.name}</th>
              <th scope="col">{m.status}</th>
              <th scope="col">{m.latestVersion}</th>
              <th scope="col">{m.runningNow}</th>
              <th scope="col">{m.waitingNow}</th>
              <th scope="col">{m.entries7d}</th>
              <th scope="col">{m.conversion}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((j) => (
              <tr key={j.id} data-journey={j.id}>
                <td>
                  <a href={`#/journeys/${encodeURIComponent(j.id)}`}>{j.id}</a>
                </td>
                <td>{j.name}</td>
                <td>{m.statusNames[j.status] ?? j.status}</td>
                <td>{j.latestVersion ?? '—'}</td>
                <td>{n(j.live?.runs.running)}</td>
                <td>{n(j.live?.runs.waiting)}</td>
                <td>{n(j.live?.entries7d)}</td>
                <td>{pct(j.live?.conversionRate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
