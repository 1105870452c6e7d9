import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { api, ApiError, type ContactSearch, type ContactSummary, type ContactView, type Me, type Preferences } from './api';
import { num, VIEWER_ZONE, timeIn } from './format';
import { useT } from './i18n';

type Mode = 'any' | 'email' | 'phone' | 'externalId' | 'name';

const PHONE_LIKE = /^\+?[\d\s().-]{5,}$/;

/**
 * "Any of these" asks the API once per field the text could be (an email has an @, a phone is digits) and merges the
 * answers; a phone the API cannot read as a number simply matches nothing.
 */
async function find(text: string, mode: Mode): Promise<ContactSummary[]> {
  const q = text.trim();
  if (mode !== 'any') return (await api.contacts({ [mode]: q } as ContactSearch)).items;
  const asks: ContactSearch[] = [{ externalId: q }];
  if (q.includes('@')) asks.push({ email: q });
  else asks.push({ name: q });
  if (PHONE_LIKE.test(q)) asks.push({ phone: q });
  const pages = await Promise.all(asks.map((a) => api.contacts(a).catch((err: unknown) => (err instanceof ApiError && err.status === 400 ? { items: [] } : Promise.reject(err)))));
  const seen = new Map<string, ContactSummary>();
  for (const p of pages) for (const c of p.items) seen.set(c.id, c);
  return [...seen.values()];
}

const fullName = (c: { firstName: string | null; lastName: string | null }) => [c.firstName, c.lastName].filter(Boolean).join(' ');

export default function ContactsPage({ id, me, onError }: { id: string | null; me: Me; onError: (err: unknown) => void }) {
  return id ? <ContactDetail id={id} me={me} onError={onError} /> : <ContactSearchPage onError={onError} />;
}

function ContactSearchPage({ onError }: { onError: (err: unknown) => void }) {
  const { t, m, locale } = useT();
  const [text, setText] = useState('');
  const [mode, setMode] = useState<Mode>('any');
  const [rows, setRows] = useState<ContactSummary[] | null>(null);
  const [asked, setAsked] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      setRows(await find(text, mode));
      setAsked(text.trim());
    } catch (err) {
      onError(err);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>{m.searchContacts}</h1>
      <form className="search" role="search" onSubmit={(e) => void submit(e)}>
        <label htmlFor="contact-q">{m.searchLabel}</label>
        <input id="contact-q" type="search" required value={text} onChange={(e) => setText(e.target.value)} maxLength={320} />
        <label htmlFor="contact-by">{m.searchBy}</label>
        <select id="contact-by" value={mode} onChange={(e) => setMode(e.target.value as Mode)}>
          <option value="any">{m.searchAny}</option>
          <option value="email">{m.email}</option>
          <option value="phone">{m.phone}</option>
          <option value="externalId">{m.crmId}</option>
          <option value="name">{m.name}</option>
        </select>
        <button type="submit" disabled={busy}>
          {m.search}
        </button>
      </form>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {rows && rows.length === 0 && <p>{m.noContacts}</p>}
      {rows && rows.length > 0 && (
        <table className="contacts" data-query={asked}>
          <thead>
            <tr>
              <th scope="col">{m.name}</th>
              <th scope="col">{m.email}</th>
              <th scope="col">{m.phone}</th>
              <th scope="col">{m.crmId}</th>
              <th scope="col">{m.stage}</th>
              <th scope="col">{m.score}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} data-contact={c.id}>
                <td>
                  <a href={`#/contacts/${encodeURIComponent(c.id)}`}>{fullName(c) || c.email || c.externalId || c.id}</a>
                </td>
                <td>{c.email ?? '—'}</td>
                <td>{c.phone ?? '—'}</td>
                <td>{c.externalId ?? '—'}</td>
                <td>{c.lifecycleStage}</td>
                <td className="n">{num(c.score, locale)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section className="panel" aria-labelledby={`${id}-title`} data-section={id}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

function Table({ head, children, empty, count }: { head: string[]; children: ReactNode; empty: string; count: number }) {
  if (count === 0) return <p className="hint">{empty}</p>;
  return (
    <table>
      <thead>
        <tr>
          {head.map((h) => (
            <th key={h} scope="col">
              {h}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

function ContactDetail({ id, me, onError }: { id: string; me: Me; onError: (err: unknown) => void }) {
  const { t, m, locale } = useT();
  const [c, setC] = useState<ContactView | null>(null);
  const [prefs, setPrefs] = useState<Preferences | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setC(null);
    setPrefs(null);
    setError(null);
    api.contact(id).then(
      (v) => {
        setC(v);
        return api.preferences(v.id).then(setPrefs);
      },
      (err: unknown) => {
        onError(err);
        setError((err as Error).message);
      },
    );
  }, [id, onError]);
  const back = (
    <p>
      <a href="#/contacts">← {m.allContacts}</a>
    </p>
  );
  if (error)
    return (
      <section>
        {back}
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      </section>
    );
  if (!c)
    return (
      <section>
        {back}
        <p>{m.loading}</p>
      </section>
    );
  const x = c.scoreExplanation;
  const signed = (n: number) => (n > 0 ? `+${num(n, locale)}` : num(n, locale));
  const profile: [string, ReactNode][] = [
    [m.email, c.email],
    [m.phone, c.phone],
    [m.crmId, c.externalId],
    [m.company, c.company],
    [m.jobTitle, c.jobTitle],
    [m.industry, c.industry],
    [m.region, c.region],
    [m.timezoneField, c.timezone],
    [m.localeField, c.locale],
    [m.owner, c.ownerId],
    [m.stage, c.lifecycleStage],
    [m.createdAt, timeIn(c.createdAt)],
  ];
  const attrs = Object.entries(c.attributes);
  return (
    <section className="contact">
      {back}
      <h1>{fullName(c) || c.email || c.externalId || c.id}</h1>
      <p className="hint">
        <code>{c.id}</code> · {t('timesIn', { zone: VIEWER_ZONE })}
        {c.mergedFrom.length > 0 && <> · {t('mergedFrom', { n: c.mergedFrom.length })}</>}
      </p>
      <div className="grid">
        <Section id="profile" title={m.profile}>
          <dl className="fields">
            {profile.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v ?? '—'}</dd>
              </div>
            ))}
            {attrs.map(([k, v]) => (
              <div key={`attr-${k}`}>
                <dt>
                  {m.attributes}: {k}
                </dt>
                <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
              </div>
            ))}
          </dl>
        </Section>
        <Section id="consent" title={m.consent}>
          {!prefs ? (
            <p>{m.loading}</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">{m.channel}</th>
                  <th scope="col">{m.marketing}</th>
                  {prefs.topics.map((tp) => (
                    <th key={tp.id} scope="col">
                      {tp.label[locale] ?? tp.id}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {(['email', 'sms'] as const).map((ch) => (
                  <tr key={ch} data-channel={ch}>
                    <th scope="row">{ch === 'email' ? m.email : 'SMS'}</th>
                    <td>
                      {m.consentNames[prefs[ch].marketing] ?? prefs[ch].marketing}
                      {prefs[ch].suppressed && <> · {t('suppressed', { reason: prefs[ch].suppressed })}</>}
                    </td>
                    {prefs.topics.map((tp) => (
                      <td key={tp.id} data-topic={tp.id}>
                        {prefs[ch].topics[tp.id] ? m.subscribed : m.unsubscribed}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {c.consent.chat && (
            <p>
              Chat: {m.consentNames[c.consent.chat] ?? c.consent.chat}
            </p>
          )}
        </Section>
        <Section id="tags" title={m.tags}>
          {c.tags.length === 0 ? (
            <p className="hint">{m.noTags}</p>
          ) : (
            <ul className="tags">
              {c.tags.map((tag) => (
                <li key={tag}>{tag}</li>
              ))}
            </ul>
          )}
        </Section>
        <Section id="score" title={t('scoreWhy', { score: c.score })}>
          {!x ? (
            <p className="hint">{m.scoreNone}</p>
          ) : (
            <>
              <p>{t('scoreParts', { fit: signed(x.fit), behaviour: signed(x.behaviour), decay: signed(x.decay), other: signed(x.other) })}</p>
              {x.thresholds.next && <p>{t('nextThreshold', { points: x.thresholds.next.pointsToGo, id: x.thresholds.next.id })}</p>}
              <Table head={[m.rule, m.source, m.points, m.times, m.last]} empty="—" count={x.breakdown.length}>
                {x.breakdown.map((b) => (
                  <tr key={`${b.source}:${b.rule}`} data-rule={b.rule}>
                    <td>{b.rule}</td>
                    <td>{m.scoreSources[b.source] ?? b.source}</td>
                    <td className="n">{signed(b.points)}</td>
                    <td className="n">{num(b.count, locale)}</td>
                    <td>{timeIn(b.lastAt)}</td>
                  </tr>
                ))}
              </Table>
            </>
          )}
        </Section>
        <Section id="lifecycle" title={m.lifecycleHistory}>
          <Table head={[m.at, m.from, m.to, m.source]} empty={m.noHistory} count={c.lifecycleHistory.length}>
            {c.lifecycleHistory.map((h, i) => (
              <tr key={i}>
                <td>{timeIn(h.at)}</td>
                <td>{h.from ?? '—'}</td>
                <td>{h.to}</td>
                <td>{h.source ?? '—'}</td>
              </tr>
            ))}
          </Table>
        </Section>
        <Section id="journeys" title={m.contactJourneys}>
          <Table head={[m.journey, m.version, m.step, m.status, m.started]} empty={m.noContactJourneys} count={c.journeys.length}>
            {c.journeys.map((j) => (
              <tr key={j.workflowId} data-run={j.workflowId}>
                <td>{me.role === 'marketer' || me.role === 'admin' ? <a href={`#/journeys/${encodeURIComponent(j.journeyId)}`}>{j.journeyName ?? j.journeyId}</a> : (j.journeyName ?? j.journeyId)}</td>
                <td className="n">v{j.version}</td>
                <td data-step>{j.currentStep ?? '—'}</td>
                <td>{m.runStatusNames[j.status] ?? j.status}</td>
                <td>{timeIn(j.startedAt)}</td>
              </tr>
            ))}
          </Table>
        </Section>
        <Section id="messages" title={m.messages}>
          <Table head={[m.channel, m.subject, m.journey, m.status, m.sent, m.opens, m.clicks]} empty={m.noMessages} count={c.messages.length}>
            {c.messages.map((msg) => (
              <tr key={msg.id} data-message={msg.stepId ?? msg.id}>
                <td>{msg.channel}</td>
                <td>{msg.subject ?? msg.template ?? '—'}</td>
                <td>{msg.journeyId ? `${msg.journeyId} / ${msg.stepId ?? '—'}` : '—'}</td>
                <td>{msg.status}</td>
                <td>{timeIn(msg.sentAt)}</td>
                <td className="n" data-count="opens" title={msg.firstOpenedAt ? timeIn(msg.firstOpenedAt) : undefined}>
                  {num(msg.opens, locale)}
                </td>
                <td className="n" data-count="clicks" title={msg.firstClickedAt ? timeIn(msg.firstClickedAt) : undefined}>
                  {num(msg.clicks, locale)}
                </td>
              </tr>
            ))}
          </Table>
        </Section>
        <Section id="handoffs" title={m.handoffs}>
          <Table head={[m.at, m.status, m.team, m.rep, m.task]} empty={m.noHandoffs} count={c.handoffs.length}>
            {c.handoffs.map((h) => (
              <tr key={h.id}>
                <td>{timeIn(h.createdAt)}</td>
                <td>{h.status}</td>
                <td>{h.team ?? '—'}</td>
                <td>{h.repId ?? '—'}</td>
                <td>{h.taskTitle ?? h.reason ?? '—'}</td>
              </tr>
            ))}
          </Table>
        </Section>
      </div>
      <Section id="timeline" title={m.timeline}>
        <Table head={[m.at, m.event, m.source, m.details]} empty={m.noEvents} count={c.timeline.length}>
          {c.timeline.map((e) => (
            <tr key={e.id} data-event={e.type}>
              <td>{timeIn(e.occurredAt, VIEWER_ZONE, { seconds: true })}</td>
              <td>{e.type}</td>
              <td>{e.source}</td>
              <td className="props">{describe(e.properties)}</td>
            </tr>
          ))}
        </Table>
      </Section>
    </section>
  );
}

/** An event's properties in one short line: contact changes as field: before → after. */
function describe(p: Record<string, unknown>): string {
  const changes = p.changes as Record<string, { from: unknown; to: unknown }> | undefined;
  if (changes && typeof changes === 'object') {
    return Object.entries(changes)
      .map(([k, v]) => `${k}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`)
      .join('; ');
  }
  const text = JSON.stringify(p);
  return text === '{}' ? '' : text;
}
