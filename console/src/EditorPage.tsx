import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, can, type Me, type Plan } from './api';
import { Confirm } from './Confirm';
import { FlowGraph } from './FlowGraph';
import { useT } from './i18n';
import { editorApi, type EditableJourney, type Issue, type JourneyLanguage, type Simulation, type Validation } from './editor/api';
import { createJourneyEditor, type JourneyEditor } from './editor/codemirror';
import { Simulator } from './editor/Simulator';

/** What a new journey starts from: the smallest document that compiles, to be changed. */
const NEW_JOURNEY = `id: my-journey
name: My journey
triggers:
  - type: event
    event: lead.created
start: welcome
steps:
  welcome:
    type: send_email
    template: welcome
    next: done
  done:
    type: exit
`;

/**
 * The journey editor: YAML with completion and the compiler's errors inline as you type, the changes against the
 * published version, publishing behind a confirmation, and the simulator drawing a contact's path on the graph.
 * `id` null: a new journey (saved as a draft by POST /v1/journeys).
 */
export default function EditorPage({ id, me, onError }: { id: string | null; me: Me; onError: (err: unknown) => void }) {
  const { t, m } = useT();
  const [journey, setJourney] = useState<EditableJourney | null>(null);
  const [language, setLanguage] = useState<JourneyLanguage | null>(null);
  const [initial, setInitial] = useState<string | null>(id === null ? NEW_JOURNEY : null);
  const [published, setPublished] = useState<{ version: number; source: string } | null>(null);
  const [validation, setValidation] = useState<{ v: Validation; text: string } | null>(null);
  const [text, setText] = useState<string>(initial ?? '');
  const [savedText, setSavedText] = useState<string | null>(null);
  const [graph, setGraph] = useState<{ plan: Plan; label: string; hash?: string | null } | null>(null);
  const [simulation, setSimulation] = useState<Simulation | null>(null);
  const [comparing, setComparing] = useState(false);
  const [changes, setChanges] = useState(0);
  const [confirm, setConfirm] = useState<{ diff: string; key: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<JourneyEditor | null>(null);
  const languageRef = useRef<JourneyLanguage | null>(null);
  languageRef.current = language;
  // Read by the editor's validation callback, made once with the editor: the saved text and what the graph shows.
  const savedRef = useRef<string | null>(null);
  savedRef.current = savedText;
  const graphHashRef = useRef<string | null | undefined>(undefined);
  graphHashRef.current = graph?.hash;

  const fail = useCallback(
    (err: unknown) => {
      onError(err);
      setError((err as Error).message);
    },
    [onError],
  );

  const showPlan = useCallback(
    async (journeyId: string, j: EditableJourney) => {
      // The saved draft when it compiles, else the latest published version.
      try {
        if (j.draft.source !== null && j.draft.publishedAs === null) {
          setGraph({ plan: (await editorApi.draftPlan(journeyId)).plan, label: t('editorGraphDraft', { id: journeyId }) });
          return;
        }
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 422)) throw err;
      }
      if (j.latestVersion) setGraph({ plan: (await editorApi.plan(journeyId, j.latestVersion.version)).plan, label: t('graphLabel', { id: journeyId, version: j.latestVersion.version }) });
    },
    [t],
  );

  const loadJourney = useCallback(
    async (journeyId: string) => {
      const j = await editorApi.journey(journeyId);
      const latest = j.latestVersion ? await editorApi.versionSource(journeyId, j.latestVersion.version) : null;
      setJourney(j);
      setPublished(latest ? { version: latest.version, source: latest.source } : null);
      setSavedText(j.draft.source);
      await showPlan(journeyId, j);
      return { j, latest };
    },
    [showPlan],
  );

  useEffect(() => {
    editorApi.language().then(setLanguage, fail);
    if (id === null) return;
    loadJourney(id).then(({ j, latest }) => {
      const start = j.draft.source ?? latest?.source ?? '';
      setInitial(start);
      setText(start);
    }, fail);
  }, [id]);

  // The editor is made once the text to start from is known, and lives as long as the page.
  useEffect(() => {
    if (initial === null || !host.current) return;
    const ed = createJourneyEditor(host.current, initial, {
      validate: (s) => editorApi.validate(s),
      onValidated: (v, s) => {
        setValidation({ v, text: s });
        setError(null);
        // The graph follows the text as it is typed: a text that compiles and is neither the saved draft nor the latest
        // version is drawn as it is; a simulated path belongs to the text it ran, so it goes when the plan changes.
        if (v.valid && v.plan && v.changed !== false && s !== savedRef.current && s === ed.view.state.doc.toString() && graphHashRef.current !== v.contentHash) {
          graphHashRef.current = v.contentHash;
          setGraph({ plan: v.plan, hash: v.contentHash, label: t('editorGraphTyped', { id: v.plan.id }) });
          setSimulation(null);
        }
      },
      onValidateError: fail,
      onChange: setText,
      language: () => languageRef.current,
      label: m.editorLabel,
      phrases: m.cmPhrases,
    });
    editor.current = ed;
    return () => {
      ed.destroy();
      editor.current = null;
    };
  }, [initial]);

  useEffect(() => editor.current?.setReadOnly(journey?.status === 'archived'), [journey?.status, initial]);
  // The diff follows the text as it is edited.
  useEffect(() => {
    if (comparing) setChanges(editor.current?.changedChunks() ?? 0);
  }, [text, comparing]);

  const toggleCompare = () => {
    if (!editor.current || !published) return;
    const on = !comparing;
    setChanges(editor.current.compare(on ? published.source : null));
    setComparing(on);
  };

  const jumpTo = (i: Issue) => {
    const view = editor.current?.view;
    if (!view || i.line === undefined) return;
    const line = view.state.doc.line(Math.min(i.line, view.state.doc.lines));
    const pos = Math.min(line.from + (i.column ?? 1) - 1, line.to);
    view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    view.focus();
  };

  /** The editor's text saved as the draft (created, for a new journey); whether it compiles. */
  const save = async (): Promise<boolean> => {
    const current = editor.current?.view.state.doc.toString() ?? text;
    if (id === null) {
      const created = await editorApi.create(current);
      // The page opens again on the journey it created (App keys the page by id).
      location.hash = `#/edit/${encodeURIComponent(created.id)}`;
      return created.validation.valid;
    }
    if (current !== savedText) {
      const saved = await editorApi.saveDraft(id, current);
      setSavedText(current);
      setJourney(saved);
      if (!saved.validation.valid) return false;
      setGraph({ plan: (await editorApi.draftPlan(id)).plan, label: t('editorGraphDraft', { id }) });
      return true;
    }
    return validation?.text === current ? validation.v.valid : (await editorApi.validate(current)).valid;
  };

  const saveClicked = async () => {
    setBusy(true);
    setNotice(null);
    try {
      const ok = await save();
      setNotice(ok ? m.editorSaved : m.editorSavedInvalid);
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  const publishClicked = async () => {
    if (id === null) return;
    setBusy(true);
    setNotice(null);
    try {
      if (!(await save())) {
        setNotice(m.editorSavedInvalid);
        return;
      }
      const diff = published ? (await editorApi.diff(id, published.version)).text : '';
      setConfirm({ diff, key: crypto.randomUUID() });
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  const publish = async () => {
    if (id === null || !confirm) return;
    const r = await editorApi.publish(id, confirm.key);
    setSimulation(null);
    const { latest } = await loadJourney(id);
    if (comparing && latest) setChanges(editor.current?.compare(latest.source) ?? 0);
    // The text is unchanged, its verdict is not: it is now the published version.
    const now = editor.current?.view.state.doc.toString() ?? text;
    setValidation({ v: await editorApi.validate(now), text: now });
    // Said once the page shows the new version.
    setNotice(r.created ? t('editorPublished', { version: r.version }) : t('editorUnchanged', { version: r.version }));
  };

  const v = validation?.v;
  const current = validation?.text === text ? v : undefined;
  const archived = journey?.status === 'archived';
  const dirty = text !== savedText;
  const mayPublish = id !== null && can.journeys(me.role) && !archived && current?.valid === true && (dirty || current.changed !== false);
  const problems = v ? [...v.errors.map((i) => ({ i, kind: 'error' as const })), ...v.warnings.map((i) => ({ i, kind: 'warning' as const }))] : [];
  const eventTypes = [...new Set([...(language?.eventTypes ?? []), ...(graph ? Object.values(graph.plan.steps).flatMap((s) => (s.event ? [s.event] : [])) : [])])].sort();

  return (
    <section className="editor">
      <p className="buttons">
        <a href="#/">← {m.back}</a>
        {id !== null && <a href={`#/journeys/${encodeURIComponent(id)}`}>{m.editorToJourney}</a>}
      </p>
      <h1>{id === null ? m.editorNewTitle : t('editorTitle', { name: journey ? `${journey.name} (${journey.id})` : id })}</h1>
      {journey && (
        <p className="hint" data-editor-status>
          {t('editorStatus', { status: m.statusNames[journey.status] ?? journey.status, version: journey.latestVersion ? `v${journey.latestVersion.version}` : '—' })}
          {archived ? ` ${m.editorArchived}` : ''}
        </p>
      )}
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      <div className="editor-layout">
        <div>
          <div className="toolbar">
            <button type="button" onClick={() => void saveClicked()} disabled={busy || archived || initial === null}>
              {id === null ? m.editorCreate : m.editorSave}
            </button>
            {published && (
              <button type="button" aria-pressed={comparing} onClick={toggleCompare}>
                {t('editorCompare', { version: published.version })}
              </button>
            )}
            {id !== null && (
              <button type="button" className="primary" onClick={() => void publishClicked()} disabled={busy || !mayPublish}>
                {m.editorPublish}
              </button>
            )}
            <span aria-live="polite" data-notice>
              {notice ?? (dirty && id !== null && savedText !== null ? m.editorUnsaved : '')}
            </span>
          </div>
          {comparing && published && (
            <p className="hint" data-diff-count={changes}>
              {changes === 0 ? t('editorNoChanges', { version: published.version }) : t('editorChanges', { n: changes, version: published.version })}
            </p>
          )}
          <div ref={host} className="code" data-editor />
          <section aria-labelledby="problems-title" className="problems">
            <h2 id="problems-title">{m.editorProblems}</h2>
            <p aria-live="polite" data-validation={current ? (current.valid ? 'valid' : 'invalid') : 'checking'}>
              {!current
                ? m.editorChecking
                : current.valid
                  ? current.changed === false
                    ? t('editorValidSame', { version: current.latestVersion ?? '' })
                    : m.editorValid
                  : t('editorInvalid', { n: current.errors.length })}
            </p>
            {problems.length > 0 && (
              <ul>
                {problems.map(({ i, kind }, n) => (
                  <li key={n} className={kind} data-problem={kind} data-line={i.line ?? ''} data-column={i.column ?? ''}>
                    <button type="button" className="link" onClick={() => jumpTo(i)} disabled={i.line === undefined}>
                      {i.line !== undefined ? t('editorAt', { line: i.line, column: i.column ?? 1 }) : m.editorNoPosition}
                    </button>{' '}
                    <span>
                      {kind === 'warning' ? `${m.editorWarning}: ` : ''}
                      {i.path ? `${i.path}: ` : ''}
                      {i.message}
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </section>
        </div>
        <div>
          {graph ? (
            <FlowGraph plan={graph.plan} label={simulation ? t('editorGraphPath', { label: graph.label }) : graph.label} path={simulation?.path.map((p) => p.stepId)} />
          ) : (
            <p className="hint">{m.editorNoGraph}</p>
          )}
          {id !== null && journey && !archived && (
            <Simulator journeyId={id} eventTypes={eventTypes} canSearchContacts={can.contacts(me.role)} prepare={save} onResult={setSimulation} onError={onError} />
          )}
        </div>
      </div>
      {confirm && journey && (
        <Confirm
          title={t('editorPublishTitle', { name: journey.name })}
          text={published ? t('editorPublishText', { version: published.version }) : m.editorPublishFirst}
          extra={confirm.diff ? <pre className="diff" data-diff-text>{confirm.diff}</pre> : undefined}
          onConfirm={publish}
          onClose={() => setConfirm(null)}
        />
      )}
    </section>
  );
}
