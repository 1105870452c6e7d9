import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, type Bulk, type ReplayReport, type BulkAction, type PendingActivity, type RunAction, type RunDetail, type RunFilter, type RunList } from './api';
import { VIEWER_ZONE, timeIn } from './format';
import { useT, type Messages } from './i18n';
import { Confirm } from './Confirm';

const BULK_POLL_MS = 1000;
const RUN_REFRESH_MS = 3000;
const BULK_ACTIONS: BulkAction[] = ['skip-wait', 'retry-now', 'cancel', 'terminate', 'migrate'];

type ActionKey = `action_${'skip_wait' | 'retry_now' | 'cancel' | 'terminate' | 'migrate' | 'move'}`;
const actionKey = (a: RunAction['kind']): ActionKey => `action_${a.replace('-', '_')}` as ActionKey;
const newKey = () => crypto.randomUUID();

export default function OpsPage({ workflowId, onError }: { workflowId: string | null; onError: (err: unknown) => void }) {
  return workflowId ? <RunPage workflowId={workflowId} onError={onError} /> : <RunsPage onError={onError} />;
}

function attemptText(a: PendingActivity | null | undefined, t: ReturnType<typeof useT>['t']) {
  if (!a) return '—';
  return a.maximumAttempts > 0 ? t('attemptOf', { attempt: a.attempt, max: a.maximumAttempts }) : t('unlimited', { attempt: a.attempt });
}

function RunsPage({ onError }: { onError: (err: unknown) => void }) {
  const { t, m } = useT();
  const [journeyId, setJourneyId] = useState('');
  const [stuck, setStuck] = useState(true);
  const [minAttempts, setMinAttempts] = useState(3);
  const [filter, setFilter] = useState<RunFilter>({ stuck: true, minAttempts: 3 });
  const [list, setList] = useState<RunList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    (f: RunFilter) => {
      setList(null);
      setError(null);
      api.runs(f).then(setList, (err: unknown) => {
        onError(err);
        setError((err as Error).message);
      });
    },
    [onError],
  );
  useEffect(() => load(filter), [filter, load]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const f: RunFilter = { ...(journeyId.trim() ? { journeyId: journeyId.trim() } : {}), ...(stuck ? { stuck: true, minAttempts } : {}) };
    // A new object each time: Refresh with the same filter loads again.
    setFilter(f);
  };
  return (
    <section className="ops">
      <h1>{m.runsTitle}</h1>
      <form className="search" onSubmit={submit}>
        <label htmlFor="ops-journey">{m.journeyFilter}</label>
        <input id="ops-journey" value={journeyId} maxLength={100} onChange={(e) => setJourneyId(e.target.value)} />
        <label>
          <input type="checkbox" checked={stuck} onChange={(e) => setStuck(e.target.checked)} /> {m.stuckOnly}
        </label>
        {stuck && (
          <>
            <label htmlFor="ops-attempts">{m.minAttempts}</label>
            <input id="ops-attempts" type="number" min={1} max={1000} value={minAttempts} onChange={(e) => setMinAttempts(Math.max(1, Number(e.target.value) || 1))} className="short" />
          </>
        )}
        <button type="submit">{m.refresh}</button>
      </form>
      <p className="hint">{t('timesIn', { zone: VIEWER_ZONE })}</p>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {!list && !error && <p>{m.loading}</p>}
      {list?.inspection && <p className="hint">{t('inspected', { n: list.inspection.inspected, capped: list.inspection.capped ? m.cappedNote : '' })}</p>}
      {list && list.items.length === 0 && <p>{m.noStuck}</p>}
      {list && list.items.length > 0 && (
        <table className="runlist">
          <thead>
            <tr>
              <th scope="col">{m.workflow}</th>
              <th scope="col">{m.journey}</th>
              <th scope="col">{m.step}</th>
              <th scope="col">{m.contact}</th>
              {filter.stuck && <th scope="col">{m.reasons}</th>}
              {filter.stuck && <th scope="col">{m.attempt}</th>}
              {filter.stuck && <th scope="col">{m.lastError}</th>}
              <th scope="col">{m.started}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((r) => (
              <tr key={r.workflowId} data-run={r.workflowId}>
                <td>
                  <a href={`#/ops/runs/${encodeURIComponent(r.workflowId)}`}>
                    <code>{r.workflowId}</code>
                  </a>
                </td>
                <td>
                  {r.journeyId} v{r.version}
                </td>
                <td>{r.currentStep ?? '—'}</td>
                <td>
                  <a href={`#/contacts/${encodeURIComponent(r.contactId)}`}>
                    <code>{r.contactId.slice(0, 8)}</code>
                  </a>
                </td>
                {filter.stuck && <td data-col="reasons">{(r.stuck?.reasons ?? []).map((x) => m[`reason_${x}`]).join('; ')}</td>}
                {filter.stuck && <td data-col="attempt">{attemptText(r.stuck?.pendingActivity, t)}</td>}
                {filter.stuck && (
                  <td data-col="error" className="props">
                    {r.stuck?.pendingActivity?.lastFailure ?? '—'}
                  </td>
                )}
                <td>{timeIn(r.startedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <BulkPanel filter={filter} onDone={() => load(filter)} onError={onError} />
      <ReplayPanel journeyId={filter.journeyId ?? ''} onError={onError} />
    </section>
  );
}

function BulkPanel({ filter, onDone, onError }: { filter: RunFilter; onDone: () => void; onError: (err: unknown) => void }) {
  const { t, m } = useT();
  const [action, setAction] = useState<BulkAction>('retry-now');
  const [count, setCount] = useState<{ n: number; action: BulkAction; filter: RunFilter } | null>(null);
  const [counting, setCounting] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState('');
  const [progress, setProgress] = useState<Bulk | null>(null);
  const [error, setError] = useState<string | null>(null);
  const bounded = Boolean(filter.journeyId || filter.stuck);
  useEffect(() => setCount(null), [filter, action]);

  /** Polls a bulk action until it ends, showing each answer. */
  const follow = async (b: Bulk, show: (b: Bulk) => void): Promise<Bulk> => {
    show(b);
    let cur = b;
    while (cur.status === 'running') {
      await new Promise((r) => setTimeout(r, BULK_POLL_MS));
      cur = await api.bulkProgress(b.bulkId);
      show(cur);
    }
    return cur;
  };
  const dryRun = async () => {
    setCounting(true);
    setError(null);
    setProgress(null);
    try {
      const end = await follow(await api.bulk(action, filter, true, newKey(), action === 'terminate' ? 'dry run' : undefined), () => undefined);
      if (end.status !== 'completed') throw new Error(end.error ?? end.status);
      setCount({ n: end.matched, action, filter });
    } catch (err) {
      onError(err);
      setError((err as Error).message);
    } finally {
      setCounting(false);
    }
  };
  const key = useRef(newKey());
  const apply = async () => {
    const end = await follow(await api.bulk(action, filter, false, key.current, action === 'terminate' ? reason.trim() : undefined), setProgress);
    key.current = newKey();
    setCount(null);
    if (end.status !== 'completed') setError(end.error ?? end.status);
    onDone();
  };
  const label = m[actionKey(action)];
  const finished = progress ? progress.succeeded + progress.skipped + progress.failed : 0;
  return (
    <section className="panel bulk" aria-labelledby="bulk-title">
      <h2 id="bulk-title">{m.bulkTitle}</h2>
      <p className="hint">{bounded ? m.bulkHelp : m.bulkNeedsFilter}</p>
      <div className="search">
        <label htmlFor="bulk-action">{m.action}</label>
        <select id="bulk-action" value={action} onChange={(e) => setAction(e.target.value as BulkAction)}>
          {BULK_ACTIONS.map((a) => (
            <option key={a} value={a}>
              {m[actionKey(a)]}
            </option>
          ))}
        </select>
        <button type="button" disabled={!bounded || counting} onClick={() => void dryRun()}>
          {counting ? m.counting : m.countFirst}
        </button>
        {count && (
          <>
            <span data-dry-run={count.n}>{t('dryRunResult', { n: count.n })}</span>
            <button type="button" className="danger" disabled={count.n === 0} onClick={() => setConfirming(true)}>
              {t('applyTo', { n: count.n })}
            </button>
          </>
        )}
      </div>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {progress && (
        <div className="progress" data-status={progress.status}>
          <label htmlFor="bulk-progress">{m.progress}</label>{' '}
          <progress id="bulk-progress" max={Math.max(progress.matched, 1)} value={finished} />{' '}
          <span aria-live="polite">
            {progress.status === 'running'
              ? t('bulkRunning', { done: finished, matched: progress.matched })
              : t('bulkDone', { succeeded: progress.succeeded, skipped: progress.skipped, failed: progress.failed, matched: progress.matched })}
          </span>
        </div>
      )}
      {confirming && count && (
        <Confirm
          title={t('confirmTitle', { action: label })}
          text={t('confirmBulk', { n: count.n })}
          ready={action !== 'terminate' || reason.trim().length > 0}
          extra={action === 'terminate' ? <ReasonInput value={reason} onChange={setReason} /> : undefined}
          onConfirm={apply}
          onClose={() => setConfirming(false)}
        />
      )}
    </section>
  );
}

function ReasonInput({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const { m } = useT();
  return (
    <p>
      <label htmlFor="confirm-reason">{m.reasonLabel}</label>
      <br />
      <input id="confirm-reason" value={value} maxLength={500} required onChange={(e) => onChange(e.target.value)} />
    </p>
  );
}

function timelineDetail(e: RunDetail['timeline'][number], m: Messages, zone: string): string {
  const parts = [
    e.step,
    e.activityType,
    e.update,
    e.signal && `${e.signal}${e.eventType ? ` (${e.eventType})` : ''}`,
    e.attempt !== undefined && `${m.attempt} ${e.attempt}`,
    e.fireAt && `→ ${timeIn(e.fireAt, zone, { label: false })}`,
    e.reason,
    e.error,
  ];
  return parts.filter(Boolean).join(' · ');
}

function RunPage({ workflowId, onError }: { workflowId: string; onError: (err: unknown) => void }) {
  const { t, m } = useT();
  const [run, setRun] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<RunAction['kind'] | null>(null);
  const [reason, setReason] = useState('');
  const [stepId, setStepId] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const key = useRef(newKey());
  const load = useCallback(() => {
    api.run(workflowId).then(setRun, (err: unknown) => {
      onError(err);
      setError((err as Error).message);
    });
  }, [workflowId, onError]);
  useEffect(load, [load]);
  // A running run changes on its own (steps, retries): read again while it runs.
  const running = run?.status === 'running';
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(load, RUN_REFRESH_MS);
    return () => clearInterval(timer);
  }, [running, load]);
  const act = async () => {
    if (!pending) return;
    const a: RunAction = pending === 'terminate' ? { kind: 'terminate', reason: reason.trim() } : pending === 'move' ? { kind: 'move', stepId: stepId.trim() } : pending === 'migrate' ? { kind: 'migrate' } : { kind: pending };
    await api.runAction(workflowId, a, key.current);
    key.current = newKey();
    setDone(m[actionKey(pending)]);
    load();
  };
  const back = (
    <p>
      <a href="#/ops">← {m.backToRuns}</a>
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
  if (!run)
    return (
      <section>
        {back}
        <p>{m.loading}</p>
      </section>
    );
  const kinds: RunAction['kind'][] = ['skip-wait', 'retry-now', 'move', 'migrate', 'cancel', 'terminate'];
  // A run's times are in its journey's zone (the version's settings.timezone), labelled.
  const zone = run.timeZone ?? VIEWER_ZONE;
  return (
    <section className="ops run">
      {back}
      <h1>
        {m.runTitle} <code>{run.workflowId}</code>
      </h1>
      <p className="hint" data-zone={zone}>{t('timesIn', { zone })}</p>
      <dl className="fields">
        <div>
          <dt>{m.journey}</dt>
          <dd>
            {run.journeyId} v{run.version}
          </dd>
        </div>
        <div>
          <dt>{m.contact}</dt>
          <dd>
            <a href={`#/contacts/${encodeURIComponent(run.contactId)}`}>
              <code>{run.contactId}</code>
            </a>
          </dd>
        </div>
        <div>
          <dt>{m.step}</dt>
          <dd data-field="step">{run.currentStep ?? '—'}</dd>
        </div>
        <div>
          <dt>{m.status}</dt>
          <dd data-field="status">{m.runStatusNames[run.status] ?? run.status}</dd>
        </div>
        <div>
          <dt>{m.temporalStatus}</dt>
          <dd data-field="temporal">{run.temporal.status}</dd>
        </div>
        <div>
          <dt>{m.started}</dt>
          <dd>{timeIn(run.startedAt, zone)}</dd>
        </div>
      </dl>
      <section className="panel" aria-labelledby="actions-title">
        <h2 id="actions-title">{m.actions}</h2>
        {done && (
          <p role="status" className="ok">
            {m.done} ({done})
          </p>
        )}
        {!running ? (
          <p className="hint">{m.runEnded}</p>
        ) : (
          <div className="buttons">
            {kinds.map((k) => (
              <button key={k} type="button" className={k === 'cancel' || k === 'terminate' ? 'danger' : undefined} onClick={() => (setDone(null), setPending(k))}>
                {m[actionKey(k)]}
              </button>
            ))}
          </div>
        )}
      </section>
      <section className="panel" aria-labelledby="pending-title">
        <h2 id="pending-title">{m.pendingActivities}</h2>
        {run.pendingActivities.length === 0 ? (
          <p className="hint">{m.noPending}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">{m.kind}</th>
                <th scope="col">{m.attempt}</th>
                <th scope="col">{m.lastError}</th>
                <th scope="col">{m.nextAttempt}</th>
              </tr>
            </thead>
            <tbody>
              {run.pendingActivities.map((a) => (
                <tr key={a.activityId} data-activity={a.activityType}>
                  <td>{a.activityType}</td>
                  <td>{attemptText(a, t)}</td>
                  <td className="props">{a.lastFailure ?? '—'}</td>
                  <td>{timeIn(a.nextAttemptAt, zone, { seconds: true })}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="panel" aria-labelledby="tl-title">
        <h2 id="tl-title">{m.timeline}</h2>
        {run.timelineTruncated && <p className="hint">{m.timelineTruncated}</p>}
        <table className="timeline">
          <thead>
            <tr>
              <th scope="col">{m.at}</th>
              <th scope="col">{m.kind}</th>
              <th scope="col">{m.detail}</th>
              <th scope="col">{m.by}</th>
            </tr>
          </thead>
          <tbody>
            {run.timeline.map((e, i) => (
              <tr key={i} data-kind={e.kind}>
                <td>{timeIn(e.at, zone, { seconds: true })}</td>
                <td>{e.kind}</td>
                <td className="props">{timelineDetail(e, m, zone)}</td>
                <td>{e.by ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {pending && (
        <Confirm
          title={t('confirmTitle', { action: m[actionKey(pending)] })}
          text={t('confirmRun', { id: run.workflowId })}
          ready={pending === 'terminate' ? reason.trim().length > 0 : pending === 'move' ? stepId.trim().length > 0 : true}
          extra={
            pending === 'terminate' ? (
              <ReasonInput value={reason} onChange={setReason} />
            ) : pending === 'move' ? (
              <p>
                <label htmlFor="confirm-step">{m.stepLabel}</label>
                <br />
                <input id="confirm-step" value={stepId} maxLength={100} required onChange={(e) => setStepId(e.target.value)} />
              </p>
            ) : undefined
          }
          onConfirm={act}
          onClose={() => setPending(null)}
        />
      )}
    </section>
  );
}


/** The replay check before a deploy (POST /v1/journeys/:id/replay): a journey's newest runs against the code the API has now. */
function ReplayPanel({ journeyId: initial, onError }: { journeyId: string; onError: (err: unknown) => void }) {
  const { t, m } = useT();
  const [journeyId, setJourneyId] = useState(initial);
  const [limit, setLimit] = useState(20);
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<ReplayReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setJourneyId(initial), [initial]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      setReport(await api.replay(journeyId.trim(), limit));
    } catch (err) {
      onError(err);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="replay-title" data-panel="replay">
      <h2 id="replay-title">{m.replayTitle}</h2>
      <p className="hint">{m.replayHelp}</p>
      <form className="search" onSubmit={(e) => void submit(e)}>
        <label htmlFor="replay-journey">{m.replayJourney}</label>
        <input id="replay-journey" value={journeyId} maxLength={100} required onChange={(e) => setJourneyId(e.target.value)} />
        <label htmlFor="replay-limit">{m.replayLimit}</label>
        <input id="replay-limit" className="short" type="number" min={1} max={200} value={limit} onChange={(e) => setLimit(Math.min(200, Math.max(1, Number(e.target.value) || 1)))} />
        <button type="submit" disabled={busy || journeyId.trim() === ''}>
          {busy ? m.replaying : m.replayRun}
        </button>
      </form>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {report && (
        <>
          <p role="status" className={report.totals.nondeterministic + report.totals.failed > 0 ? 'error' : 'ok'} data-replay-totals>
            {t('replayTotals', { ...report.totals })}
          </p>
          {report.timedOut && <p className="hint">{m.replayTimedOut}</p>}
          {report.results.length === 0 ? (
            <p className="hint">{m.replayNone}</p>
          ) : (
            <table className="runlist">
              <thead>
                <tr>
                  <th scope="col">{m.workflow}</th>
                  <th scope="col">{m.version}</th>
                  <th scope="col">{m.status}</th>
                  <th scope="col">{m.lastError}</th>
                </tr>
              </thead>
              <tbody>
                {report.results.map((r) => (
                  <tr key={r.workflowId} data-replay={r.status}>
                    <td>
                      <a href={`#/ops/runs/${encodeURIComponent(r.workflowId)}`}>
                        <code>{r.workflowId}</code>
                      </a>
                    </td>
                    <td>v{r.version}</td>
                    <td>{m.replayStatusNames[r.status] ?? r.status}</td>
                    <td className="props">{r.error ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
