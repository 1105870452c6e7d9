import { useEffect, useRef, useState } from 'react';
import { api, ApiError, type JourneyDetail, type Launch, type LaunchBody, type LaunchPreview } from './api';
import { Confirm } from './Confirm';
import { num, VIEWER_ZONE, timeIn } from './format';
import { useT } from './i18n';

const POLL_MS = 1000;

/** Contact fields in the journey language (src/journey/schema.ts `Contact`), as the audience filter names them. */
const FIELDS = ['lifecycle_stage', 'region', 'industry', 'job_title', 'company', 'country', 'score', 'email', 'locale', 'timezone', 'owner_id'] as const;
const OPS = ['eq', 'neq', 'in', 'contains', 'gte', 'lte', 'gt', 'lt', 'exists'] as const;
type Op = (typeof OPS)[number];
type Row = { kind: 'field' | 'tag'; field: string; op: Op; value: string };

/** One row as the journey language writes it: numbers stay numbers, `in` takes a comma-separated list. */
function rowCondition(r: Row): unknown {
  if (r.kind === 'tag') return { tag: r.value.trim() };
  const scalar = (v: string) => (v.trim() !== '' && !Number.isNaN(Number(v)) && r.field === 'score' ? Number(v) : v.trim());
  if (r.op === 'exists') return { field: r.field, exists: r.value !== 'false' };
  if (r.op === 'in') return { field: r.field, in: r.value.split(',').map((v) => scalar(v)).filter((v) => v !== '') };
  return { field: r.field, [r.op]: scalar(r.value) };
}

export function buildFilter(rows: Row[], join: 'all' | 'any'): unknown {
  const conds = rows.filter((r) => r.op === 'exists' || r.value.trim() !== '').map(rowCondition);
  if (conds.length === 0) return undefined;
  return conds.length === 1 ? conds[0] : { [join]: conds };
}

export default function LaunchPage({ id, onError }: { id: string; onError: (err: unknown) => void }) {
  const { t, m, locale } = useT();
  const [journey, setJourney] = useState<JourneyDetail | null>(null);
  const [rows, setRows] = useState<Row[]>([{ kind: 'field', field: 'lifecycle_stage', op: 'eq', value: '' }]);
  const [join, setJoin] = useState<'all' | 'any'>('all');
  const [consent, setConsent] = useState<LaunchBody['consent']>('email');
  const [rate, setRate] = useState(100);
  const [preview, setPreview] = useState<{ p: LaunchPreview; body: string } | null>(null);
  const [counting, setCounting] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [launch, setLaunch] = useState<Launch | null>(null);
  const [speed, setSpeed] = useState<{ perSecond: number; etaSeconds: number | null } | null>(null);
  const [past, setPast] = useState<Launch[]>([]);
  const [error, setError] = useState<string | null>(null);
  const key = useRef(crypto.randomUUID());

  // Launch times are in the journey's zone (its latest version's settings.timezone); the viewer's if never published.
  const [zone, setZone] = useState(VIEWER_ZONE);
  useEffect(() => {
    api.journey(id).then(setJourney, onError);
    api.launches(id).then((l) => setPast(l.items), onError);
    api.plan(id).then((p) => setZone(p.plan.settings.timezone), (err: unknown) => (err instanceof ApiError && err.status === 404 ? undefined : onError(err)));
  }, [id, onError]);

  const filter = buildFilter(rows, join);
  const body: LaunchBody = { ...(filter !== undefined ? { filter } : {}), consent };
  const bodyText = JSON.stringify(body);
  // A count belongs to the filter it was made for: changing the filter asks for a new one.
  const counted = preview && preview.body === bodyText ? preview.p : null;

  const count = async () => {
    setCounting(true);
    setError(null);
    try {
      setPreview({ p: await api.launchPreview(id, body), body: bodyText });
    } catch (err) {
      onError(err);
      setError((err as Error).message);
    } finally {
      setCounting(false);
    }
  };

  /** Follows a launch: contacts scanned per second between the first and the latest answer, and the time left. */
  const follow = async (first: Launch) => {
    const t0 = Date.now();
    let cur = first;
    setLaunch(cur);
    while (cur.status === 'running') {
      await new Promise((r) => setTimeout(r, POLL_MS));
      cur = await api.launchProgress(first.launchId);
      const seconds = (Date.now() - t0) / 1000;
      const perSecond = seconds > 0 ? (cur.scanned - first.scanned) / seconds : 0;
      setSpeed({ perSecond, etaSeconds: perSecond > 0 ? Math.max(0, (cur.total - cur.scanned) / perSecond) : null });
      setLaunch(cur);
    }
    api.launches(id).then((l) => setPast(l.items), onError);
  };
  const start = async () => {
    const l = await api.launch(id, { ...body, ratePerSecond: rate }, key.current);
    key.current = crypto.randomUUID();
    // The count described the audience before this launch: a second launch is counted again first.
    setPreview(null);
    void follow(l).catch((err: unknown) => {
      onError(err);
      setError((err as Error).message);
    });
  };
  const update = (i: number, patch: Partial<Row>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const active = journey?.status === 'active' && journey.latestVersion !== null;
  const reasons = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, v]) => `${m.skipReasonNames[k] ?? k}: ${num(v, locale)}`)
      .join('; ');

  return (
    <section className="launch">
      <p>
        <a href={`#/journeys/${encodeURIComponent(id)}`}>← {journey ? journey.name : id}</a>
      </p>
      <h1>{t('launchTitle', { name: journey?.name ?? id })}</h1>
      {journey && !active && <p role="alert">{t('launchNeedsActive', { status: m.statusNames[journey.status] ?? journey.status })}</p>}
      <fieldset className="panel">
        <legend>{m.audience}</legend>
        <p className="hint">{m.audienceHelp}</p>
        <label>
          {m.matchWhen}{' '}
          <select value={join} onChange={(e) => setJoin(e.target.value as 'all' | 'any')}>
            <option value="all">{m.joinAll}</option>
            <option value="any">{m.joinAny}</option>
          </select>
        </label>
        {rows.map((r, i) => (
          <div className="filter-row" key={i} data-row={i}>
            <select aria-label={t('rowKind', { n: i + 1 })} value={r.kind} onChange={(e) => update(i, { kind: e.target.value as Row['kind'] })}>
              <option value="field">{m.kindField}</option>
              <option value="tag">{m.kindTag}</option>
            </select>
            {r.kind === 'field' && (
              <>
                <select aria-label={t('rowField', { n: i + 1 })} value={r.field} onChange={(e) => update(i, { field: e.target.value })}>
                  {FIELDS.map((f) => (
                    <option key={f} value={f}>
                      {m.fieldNames[f] ?? f}
                    </option>
                  ))}
                </select>
                <select aria-label={t('rowOp', { n: i + 1 })} value={r.op} onChange={(e) => update(i, { op: e.target.value as Op })}>
                  {OPS.map((o) => (
                    <option key={o} value={o}>
                      {m.opNames[o] ?? o}
                    </option>
                  ))}
                </select>
              </>
            )}
            {r.kind === 'field' && r.op === 'exists' ? (
              <select aria-label={t('rowValue', { n: i + 1 })} value={r.value === 'false' ? 'false' : 'true'} onChange={(e) => update(i, { value: e.target.value })}>
                <option value="true">{m.yes}</option>
                <option value="false">{m.no}</option>
              </select>
            ) : (
              <input aria-label={t('rowValue', { n: i + 1 })} value={r.value} maxLength={200} onChange={(e) => update(i, { value: e.target.value })} placeholder={r.op === 'in' ? 'a, b, c' : ''} />
            )}
            <button type="button" onClick={() => setRows(rows.filter((_, j) => j !== i))} aria-label={t('removeRow', { n: i + 1 })}>
              ×
            </button>
          </div>
        ))}
        <button type="button" onClick={() => setRows([...rows, { kind: 'field', field: 'region', op: 'eq', value: '' }])}>
          {m.addCondition}
        </button>
        <p>
          <label>
            {m.consentCheck}{' '}
            <select value={consent} onChange={(e) => setConsent(e.target.value as LaunchBody['consent'])}>
              <option value="email">{m.email}</option>
              <option value="sms">SMS</option>
              <option value="none">{m.consentNone}</option>
            </select>
          </label>{' '}
          <label>
            {m.ratePerSecond}{' '}
            <input type="number" className="short" min={1} max={2000} value={rate} onChange={(e) => setRate(Math.min(2000, Math.max(1, Number(e.target.value) || 1)))} />
          </label>
        </p>
        <p className="hint">
          {filter === undefined ? m.ownAudience : m.filterAs} <code data-filter>{filter === undefined ? '' : JSON.stringify(filter)}</code>
        </p>
        <div className="buttons">
          <button type="button" disabled={counting} onClick={() => void count()}>
            {counting ? m.counting : m.countContacts}
          </button>
          {counted && (
            <button type="button" className="danger" disabled={!active || counted.enrol === 0 || launch?.status === 'running'} onClick={() => setConfirming(true)}>
              {t('launchTo', { n: num(counted.enrol, locale) })}
            </button>
          )}
        </div>
        {counted && (
          <p data-preview aria-live="polite">
            {t('previewText', { matched: num(counted.matched, locale), total: num(counted.total, locale), enrol: num(counted.enrol, locale), skipped: num(counted.skipped, locale) })}
            {counted.skipped > 0 && ` (${reasons(counted.skipReasons)})`}
            {!counted.complete && ` ${t('previewPartial', { scanned: num(counted.scanned, locale) })}`}
          </p>
        )}
      </fieldset>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {launch && (
        <section className="panel" aria-labelledby="progress-title" data-launch={launch.launchId} data-status={launch.status}>
          <h2 id="progress-title">{m.launchProgress}</h2>
          <progress aria-label={m.launchProgress} max={Math.max(launch.total, 1)} value={launch.scanned} />
          <p aria-live="polite" data-counts>
            {t('launchCounts', {
              scanned: num(launch.scanned, locale),
              total: num(launch.total, locale),
              enrolled: num(launch.enrolled, locale),
              skipped: num(launch.skipped, locale),
              status: m.launchStatusNames[launch.status] ?? launch.status,
            })}
          </p>
          {launch.skipped > 0 && <p>{reasons(launch.skipReasons)}</p>}
          {speed && launch.status === 'running' && (
            <p data-rate>{t('launchRate', { rate: num(Math.round(speed.perSecond), locale), eta: speed.etaSeconds === null ? '—' : duration(speed.etaSeconds, locale) })}</p>
          )}
          {launch.error && <p className="error">{launch.error}</p>}
          {launch.status === 'running' && (
            <button type="button" onClick={() => void api.cancelLaunch(launch.launchId).catch(onError)}>
              {m.stopLaunch}
            </button>
          )}
        </section>
      )}
      {past.length > 0 && (
        <section className="panel" aria-labelledby="past-title">
          <h2 id="past-title">{m.pastLaunches}</h2>
          <p className="hint" data-zone={zone}>{t('timesIn', { zone })}</p>
          <table>
            <thead>
              <tr>
                <th scope="col">{m.started}</th>
                <th scope="col">{m.version}</th>
                <th scope="col">{m.status}</th>
                <th scope="col">{m.enrolledCol}</th>
                <th scope="col">{m.skippedCol}</th>
                <th scope="col">{m.by}</th>
              </tr>
            </thead>
            <tbody>
              {past.map((l) => (
                <tr key={l.launchId}>
                  <td>{timeIn(l.createdAt, zone)}</td>
                  <td className="n">v{l.version}</td>
                  <td>{m.launchStatusNames[l.status] ?? l.status}</td>
                  <td className="n">{num(l.enrolled, locale)}</td>
                  <td className="n">{num(l.skipped, locale)}</td>
                  <td>{l.createdBy ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {confirming && counted && (
        <Confirm title={t('confirmTitle', { action: m.launch })} text={t('confirmLaunch', { n: num(counted.enrol, locale), name: journey?.name ?? id })} onConfirm={start} onClose={() => setConfirming(false)} />
      )}
    </section>
  );
}

function duration(seconds: number, locale: string): string {
  const s = Math.round(seconds);
  const f = new Intl.NumberFormat(locale);
  if (s < 60) return `${f.format(s)} s`;
  if (s < 3600) return `${f.format(Math.floor(s / 60))} min ${f.format(s % 60)} s`;
  return `${f.format(Math.floor(s / 3600))} h ${f.format(Math.floor((s % 3600) / 60))} min`;
}
