import { useEffect, useState } from 'react';
import { api, type JourneyStats, type SplitStats, type StepDetail } from './api';
import { num, pct } from './format';
import { useT } from './i18n';

const STATUSES = ['sent', 'delivered', 'bounced', 'failed', 'suppressed'] as const;

/** What one step did: runs in, its messages (sent, opened, clicked, bounced…), conversions after it, and a split's arms. */
export function StepPanel({ journeyId, version, step, stats, onError }: { journeyId: string; version: number; step: string; stats: JourneyStats | null; onError: (err: unknown) => void }) {
  const { t, m, locale } = useT();
  const [d, setD] = useState<StepDetail | null>(null);
  useEffect(() => {
    setD(null);
    api.step(journeyId, version, step).then(setD, onError);
  }, [journeyId, version, step, onError]);
  const goalName = (g: string) => stats?.goals.find((x) => x.goal === g)?.name ?? g;
  const split = stats?.splits.find((s) => s.splitId === step);
  return (
    <section className="panel step-panel" aria-labelledby="step-title" data-step-panel={step}>
      <h2 id="step-title">{t('stepTitle', { step })}</h2>
      {!d ? (
        <p>{m.loading}</p>
      ) : (
        <>
          <p>{t('stepEntered', { runs: num(d.entered, locale), contacts: num(d.contacts, locale) })}</p>
          {d.messages.total > 0 && (
            <table className="step-messages">
              <caption>{m.messages}</caption>
              <thead>
                <tr>
                  <th scope="col">{m.channel}</th>
                  {STATUSES.map((s) => (
                    <th key={s} scope="col">
                      {m.messageStatus[s]}
                    </th>
                  ))}
                  <th scope="col">{m.opened}</th>
                  <th scope="col">{m.clicked}</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(d.messages.byChannel).map(([ch, by]) => (
                  <tr key={ch} data-channel={ch}>
                    <th scope="row">{ch}</th>
                    {STATUSES.map((s) => (
                      <td key={s} className="n" data-status={s}>
                        {num(by[s] ?? 0, locale)}
                      </td>
                    ))}
                    <td className="n" data-status="opened">
                      {ch === 'email' ? num(d.messages.opened, locale) : '—'}
                    </td>
                    <td className="n" data-status="clicked">
                      {ch === 'email' ? num(d.messages.clicked, locale) : '—'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {d.conversions.length === 0 ? (
            <p className="hint">{m.noConversions}</p>
          ) : (
            <table className="step-conversions">
              <caption>{m.conversionsAfter}</caption>
              <thead>
                <tr>
                  <th scope="col">{m.goal}</th>
                  <th scope="col">{m.conversionsCol}</th>
                  <th scope="col">{m.contacts}</th>
                  <th scope="col">{m.rateOfEntered}</th>
                </tr>
              </thead>
              <tbody>
                {d.conversions.map((c) => (
                  <tr key={c.goal} data-goal={c.goal}>
                    <td>{goalName(c.goal)}</td>
                    <td className="n">{num(c.conversions, locale)}</td>
                    <td className="n">{num(c.contacts, locale)}</td>
                    <td className="n">{d.contacts > 0 ? pct(c.contacts / d.contacts, locale) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      {split && <Arms split={split} goalName={goalName} />}
    </section>
  );
}

function Arms({ split, goalName }: { split: SplitStats; goalName: (g: string) => string }) {
  const { t, m, locale } = useT();
  const goals = split.arms[0]?.goals.map((g) => g.goal) ?? [];
  const p = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x < 0.001 ? '< 0.001' : new Intl.NumberFormat(locale, { maximumFractionDigits: 3 }).format(x));
  return (
    <table className="arms">
      <caption>{t('armsOf', { control: split.control ?? '—' })}</caption>
      <thead>
        <tr>
          <th scope="col">{m.armCol}</th>
          <th scope="col">{m.share}</th>
          <th scope="col">{m.enteredCol}</th>
          {goals.map((g) => (
            <th key={g} scope="col">
              {t('armGoal', { goal: goalName(g) })}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {split.arms.map((a) => (
          <tr key={a.arm} data-arm={a.arm}>
            <th scope="row">
              {a.arm}
              {a.holdout ? ` (${m.holdout})` : ''}
              {a.control ? ` · ${m.control}` : ''}
            </th>
            <td className="n">{a.percent === null ? '—' : `${a.percent}%`}</td>
            <td className="n" data-col="entered">
              {num(a.entered, locale)}
            </td>
            {a.goals.map((g) => (
              <td key={g.goal} data-goal={g.goal}>
                {num(g.conversions, locale)} · {pct(g.rate, locale)}
                {g.interval && ` [${pct(g.interval.low, locale)}–${pct(g.interval.high, locale)}]`}
                {g.vsControl &&
                  (g.vsControl.tooSmall ? (
                    <span className="hint"> · {m.tooSmall}</span>
                  ) : (
                    <> · {t('vsControl', { lift: g.vsControl.lift === null ? '—' : pct(g.vsControl.lift, locale), p: p(g.vsControl.pValue) })}</>
                  ))}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
