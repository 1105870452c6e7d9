/**
 * The CodeMirror 6 editor of the journey editor: YAML, completion from the journey language, the compiler's errors
 * inline (POST /v1/journeys/validate as the text changes, debounced by the linter) and the diff against the
 * published version (@codemirror/merge, switched on and off without leaving the editor).
 */
import { autocompletion, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { bracketMatching, defaultHighlightStyle, indentOnInput, indentUnit, syntaxHighlighting } from '@codemirror/language';
import { linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { getChunks, unifiedMergeView } from '@codemirror/merge';
import { Compartment, EditorState, type Text } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from '@codemirror/view';
import type { Issue, JourneyLanguage, Validation } from './api';
import { journeyCompletion } from './completion';

/** Where the compiler's line:column (1-based) falls in the text, clamped to it; the whole word there is marked. */
export function issueRange(doc: Text, issue: Issue): { from: number; to: number } {
  if (issue.line === undefined) return { from: 0, to: Math.min(doc.line(1).to, doc.length) };
  const line = doc.line(Math.min(Math.max(issue.line, 1), doc.lines));
  const from = Math.min(line.from + Math.max((issue.column ?? 1) - 1, 0), line.to);
  // The scalar there: up to the next flow separator or comment, so `2 dayz` is marked whole.
  const value = /^[^,{}[\]#]*/.exec(line.text.slice(from - line.from))![0].trimEnd();
  return { from, to: value ? from + value.length : line.to };
}

export type EditorHooks = {
  /** The text to check: resolves with the compiler's verdict (or rejects; the editor then shows nothing new). */
  validate: (text: string) => Promise<Validation>;
  onValidated: (v: Validation, text: string) => void;
  onValidateError: (err: unknown) => void;
  onChange: (text: string) => void;
  language: () => JourneyLanguage | null;
  label: string;
  /** Translated phrases of CodeMirror's own interface (its search and lint panels, the completion list). */
  phrases: Record<string, string>;
};

export type JourneyEditor = {
  view: EditorView;
  /** Shows the changes against `original` (null: back to plain editing); answers the number of changed chunks. */
  compare(original: string | null): number;
  changedChunks(): number;
  setReadOnly(readOnly: boolean): void;
  destroy(): void;
};

export function createJourneyEditor(parent: HTMLElement, text: string, hooks: EditorHooks): JourneyEditor {
  const merge = new Compartment();
  const readOnly = new Compartment();
  const lint = linter(
    async (view) => {
      const text = view.state.doc.toString();
      let v: Validation;
      try {
        v = await hooks.validate(text);
      } catch (err) {
        hooks.onValidateError(err);
        return [];
      }
      // The text may have changed while the request was out: the positions are for the text sent.
      if (view.state.doc.toString() !== text) return [];
      hooks.onValidated(v, text);
      const doc = view.state.doc;
      const diag = (i: Issue, severity: 'error' | 'warning'): Diagnostic => ({ ...issueRange(doc, i), severity, message: i.path ? `${i.path}: ${i.message}` : i.message });
      return [...v.errors.map((i) => diag(i, 'error')), ...v.warnings.map((i) => diag(i, 'warning'))];
    },
    { delay: 500 },
  );
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        indentUnit.of('  '),
        EditorState.tabSize.of(2),
        EditorState.phrases.of(hooks.phrases),
        yaml(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        autocompletion({ override: [journeyCompletion(hooks.language)], activateOnTyping: true }),
        lint,
        lintGutter(),
        // Tab indents (YAML is indentation); Escape then Tab leaves the editor, as CodeMirror documents.
        keymap.of([...completionKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        // tabindex: the text is focusable either way (contenteditable), but axe's scrollable-region check only counts
        // tabbable content, and a long journey makes the editor's scroller a region that needs it.
        EditorView.contentAttributes.of({ 'aria-label': hooks.label, tabindex: '0' }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) hooks.onChange(u.state.doc.toString());
        }),
        merge.of([]),
        readOnly.of([]),
      ],
    }),
  });
  const changedChunks = () => getChunks(view.state)?.chunks.length ?? 0;
  return {
    view,
    compare(original) {
      view.dispatch({
        effects: merge.reconfigure(original === null ? [] : unifiedMergeView({ original, mergeControls: false, gutter: true, syntaxHighlightDeletions: false })),
      });
      return changedChunks();
    },
    changedChunks,
    setReadOnly(ro) {
      view.dispatch({ effects: readOnly.reconfigure(ro ? [EditorState.readOnly.of(true), EditorView.editable.of(false)] : []) });
    },
    destroy: () => view.destroy(),
  };
}
