import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useT } from './i18n';

/**
 * A modal confirmation (the native <dialog>: focus is trapped and Escape closes it). `extra` holds the inputs an action
 * needs (a reason, a step); `ready` says whether they are filled in.
 */
export function Confirm({ title, text, extra, ready = true, onConfirm, onClose }: { title: string; text: string; extra?: ReactNode; ready?: boolean; onConfirm: () => Promise<void>; onClose: () => void }) {
  const { m } = useT();
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} className="confirm" aria-labelledby="confirm-title" onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <h2 id="confirm-title">{title}</h2>
        <p>{text}</p>
        {extra}
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {m.cancelDialog}
          </button>
          <button type="submit" className="danger" disabled={busy || !ready}>
            {m.confirm}
          </button>
        </div>
      </form>
    </dialog>
  );
}

