import { useState, type FormEvent } from 'react';
import { api, type ContactSummary, type ContactView } from '../api';
import { duration } from '../graph';
import { useT } from '../i18n';
import { editorApi, type SimContact, type SimEvent, type Simulation } from './api';
import { parseEventProperties } from './properties';

type Row = { key: number; type: string; at: string; props: string };

/** The journey language's contact from the API's contact view (camelCase there, snake_case in journeys). */
export function simContact(c: ContactView): SimContact {
  return {
    id: c.id,
    email: c.email,
    phone: c.phone,
    first_name: c.firstName,
    last_name: c.lastName,
    company: c.company,
    job_title: c.jobTitle,
    industry: c.industry,
    region: c.region,
    timezone: c.timezone,
    locale: c.locale,
    lifecycle_stage: c.lifecycleStage,
    score: c.score,
    tags: c.tags,
    owner_id: c.ownerId,
    created_at: c.createdAt,
    attributes: c.attributes,
  };
}

/** `2h` and `+2h` are offsets from the start; anything else is sent as written (an ISO date-time). */
const offset = (at: string) => (/^\d/.test(at.trim()) ? `+${at.trim()}` : at.trim());

/**
 * Runs the journey's saved draft on the simulator (POST /v1/journeys/:id/simulate, version `draft`) for a contact —
 * found among the contacts, or described here — and a timeline of events at offsets from the start.
 */
export function Simulator({
  journeyId,
  eventTypes,
  canSearchContacts,
  prepare,
  onResult,
  onError,
}: {
  journeyId: string;
  /** Suggested for the timeline: the types seen and those the journey waits for. */
  eventTypes: string[];
  canSearchContacts: boolean;
  /** Saves the editor's text as the draft; false when it does not compile (nothing to simulate). */
  prepare: () => Promise<boolean>;
  onResult: (s: Simulation | null) => void;
  onError: (err: unknown) => void;
}) {
  const { t, m, locale } = useT();
  const [mode, setMode] = useState<'existing' | 'describe'>(canSearchContacts ? 'existing' : 'describe');
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<ContactSummary[] | null>(null);
  const [chosen, setChosen] = useState<ContactView | null>(null);
  const [described, setDescribed] = useState({ email: '', first_name: '', region: '', lifecycle_stage: '', tags: '', timezone: '', score: '0' });
  const [rows, setRows] = useState<Row[]>([{ key: 1, type: '', at: '1h', props: '' }]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<Simulation | null>(null);

  const search = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setFound((await api.contacts({ name: query.includes('@') ? undefined : query, email: query.includes('@') ? query : undefined })).items);
    } catch (err) {
      onError(err);
      setError((err as Error).message);
    }
  };
  const choose = async (id: string) => {
    try {
      setChosen(await api.contact(id));
    } catch (err) {
      onError(err);
      setError((err as Error).message);
    }
  };
  const contact = (): SimContact | null => {
    if (mode === 'existing') return chosen ? simContact(chosen) : null;
    const d = described;
    const opt = (v: string) => (v.trim() === '' ? undefined : v.trim());
    return {
      id: 'simulated-contact',
      ...(opt(d.email) ? { email: opt(d.email) } : {}),
      ...(opt(d.first_name) ? { first_name: opt(d.first_name) } : {}),
      ...(opt(d.region) ? { region: opt(d.region) } : {}),
      ...(opt(d.lifecycle_stage) ? { lifecycle_stage: opt(d.lifecycle_stage) } : {}),
      ...(opt(d.timezone) ? { timezone: opt(d.timezone) } : {}),
      score: Number(d.score) || 0,
      tags: d.tags.split(/[,，]/).map((x) => x.trim()).filter(Boolean),
    };
  };
  const run = async (e: FormEvent) => {
    e.preventDefault();
    const c = contact();
    if (!c) {
      setError(m.simPickContact);
      return;
    }
    // Properties are read before anything is saved, so a typo names its row and nothing runs.
    const events: SimEvent[] = [];
    for (const [i, r] of rows.entries()) {
      if (r.type.trim() === '') continue;
      const parsed = parseEventProperties(r.props);
      if (!parsed.ok) {
        const p = parsed.problem;
        const detail = p.kind === 'json' ? p.detail : p.kind === 'not_object' ? m.simPropsNotObject : t('simPropsPair', { pair: p.pair });
        setError(t('simBadProps', { n: i + 1, detail }));
        return;
      }
      events.push({ type: r.type.trim(), at: offset(r.at || '0s'), ...(parsed.properties ? { properties: parsed.properties } : {}) });
    }
    setBusy(true);
    setError(null);
    try {
      if (!(await prepare())) {
        setError(m.simNeedsValid);
        return;
      }
      const s = await editorApi.simulate(journeyId, { contact: c, timeline: { events }, version: 'draft' });
      setResult(s);
      onResult(s);
    } catch (err) {
      onError(err);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const inZone = (ms: number, zone: string) => new Date(ms).toLocaleString(locale, { timeZone: zone, timeZoneName: 'short' });
  const field = (k: keyof typeof described, label: string, type = 'text') => (
    <label key={k}>
      {label}{' '}
      <input type={type} value={described[k]} onChange={(e) => setDescribed({ ...described, [k]: e.target.value })} />
    </label>
  );
  const startMs = result ? Date.parse(result.start) : 0;

  return (
    <section className="panel simulator" aria-labelledby="sim-title">
      <h2 id="sim-title">{m.simTitle}</h2>
      <p className="hint">{m.simHelp}</p>
      <fieldset>
        <legend>{m.simContact}</legend>
        <div className="filter-row" role="radiogroup" aria-label={m.simContact}>
          {canSearchContacts && (
            <label>
              <input type="radio" name="sim-mode" checked={mode === 'existing'} onChange={() => setMode('existing')} /> {m.simExisting}
            </label>
          )}
          <label>
            <input type="radio" name="sim-mode" checked={mode === 'describe'} onChange={() => setMode('describe')} /> {m.simDescribe}
          </label>
        </div>
        {mode === 'existing' ? (
          <>
            <form className="filter-row" onSubmit={(e) => void search(e)}>
              <label>
                {m.simSearchLabel} <input value={query} onChange={(e) => setQuery(e.target.value)} />
              </label>
              <button type="submit">{m.search}</button>
            </form>
            {found && found.length === 0 && <p>{m.noContacts}</p>}
            {found && found.length > 0 && (
              <ul className="sim-found">
                {found.map((c) => (
                  <li key={c.id}>
                    <button type="button" aria-pressed={chosen?.id === c.id} onClick={() => void choose(c.id)} data-contact={c.id}>
                      {[c.firstName, c.lastName].filter(Boolean).join(' ') || c.externalId || c.id} {c.email ? `<${c.email}>` : ''}
                    </button>
                  </li>
                ))}
              </ul>
            )}
            {chosen && <p data-chosen={chosen.id}>{t('simChosen', { name: [chosen.firstName, chosen.lastName].filter(Boolean).join(' ') || chosen.email || chosen.id, tags: chosen.tags.join(', ') || '—' })}</p>}
          </>
        ) : (
          <div className="filter-row">
            {field('email', m.email, 'email')}
            {field('first_name', m.simFirstName)}
            {field('region', m.region)}
            {field('lifecycle_stage', m.stage)}
            {field('tags', m.simTags)}
            {field('timezone', m.timezoneField)}
            {field('score', m.score, 'number')}
          </div>
        )}
      </fieldset>
      <form onSubmit={(e) => void run(e)}>
        <fieldset>
          <legend>{m.simTimeline}</legend>
          <datalist id="sim-event-types">
            {eventTypes.map((e) => (
              <option key={e} value={e} />
            ))}
          </datalist>
          {rows.map((r, i) => (
            <div className="filter-row" key={r.key} data-sim-event={i}>
              <label>
                {t('simEventType', { n: i + 1 })}{' '}
                <input list="sim-event-types" value={r.type} onChange={(e) => setRows(rows.map((x) => (x.key === r.key ? { ...x, type: e.target.value } : x)))} />
              </label>
              <label>
                {t('simEventAt', { n: i + 1 })}{' '}
                <input className="short" value={r.at} placeholder="2h" onChange={(e) => setRows(rows.map((x) => (x.key === r.key ? { ...x, at: e.target.value } : x)))} />
              </label>
              <label>
                {t('simEventProps', { n: i + 1 })}{' '}
                <input className="props" value={r.props} placeholder={m.simPropsPlaceholder} onChange={(e) => setRows(rows.map((x) => (x.key === r.key ? { ...x, props: e.target.value } : x)))} />
              </label>
              <button type="button" onClick={() => setRows(rows.filter((x) => x.key !== r.key))} aria-label={t('simRemoveEvent', { n: i + 1 })}>
                ×
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setRows([...rows, { key: Math.max(0, ...rows.map((x) => x.key)) + 1, type: '', at: '1d', props: '' }])}>
            {m.simAddEvent}
          </button>
        </fieldset>
        <p className="buttons">
          <button type="submit" disabled={busy}>
            {busy ? m.simRunning : m.simRun}
          </button>
        </p>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {result && (
        <div data-sim-result aria-live="polite">
          <p data-outcome={result.outcome.status}>
            {t('simOutcome', { status: m.simOutcomes[result.outcome.status] ?? result.outcome.status, reason: result.outcome.reason, time: inZone(Date.parse(result.outcome.at), result.timezone) })}
          </p>
          <table className="sim-path">
            <caption>{t('simTimesIn', { zone: result.timezone })}</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{m.simTime}</th>
                <th scope="col">{m.simAfterStart}</th>
                <th scope="col">{m.simStep}</th>
                <th scope="col">{m.simType}</th>
              </tr>
            </thead>
            <tbody>
              {result.path.map((p, i) => (
                <tr key={i} data-path-step={p.stepId}>
                  <td>{i + 1}</td>
                  <td>{inZone(p.atMs, result.timezone)}</td>
                  <td>+{p.atMs === startMs ? '0s' : duration(p.atMs - startMs)}</td>
                  <td>{p.stepId}</td>
                  <td>{p.type}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {result.actions.length > 0 && (
            <table className="sim-actions">
              <caption>{m.simActions}</caption>
              <thead>
                <tr>
                  <th scope="col">{m.simTime}</th>
                  <th scope="col">{m.simStep}</th>
                  <th scope="col">{m.simAction}</th>
                  <th scope="col">{m.simResult}</th>
                </tr>
              </thead>
              <tbody>
                {result.actions.map((a, i) => (
                  <tr key={i}>
                    <td>{inZone(a.atMs, result.timezone)}</td>
                    <td>{a.stepId}</td>
                    <td>{a.action.kind}</td>
                    <td>{a.result}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {result.schedule?.map((s) => (
            <div key={s.trigger} data-schedule={s.trigger}>
              <h3>{t('simNextFires', { n: s.trigger + 1, schedule: s.schedule, zone: s.timezone })}</h3>
              <ol>
                {s.next.map((ms) => (
                  <li key={ms}>{inZone(ms, s.timezone)}</li>
                ))}
              </ol>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
