import { lazy, Suspense, useCallback, useEffect, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, can, currentSession, signIn, signOut, type Me } from './api';
import { I18n, initialLocale, LOCALES, MESSAGES, saveLocale, useT, type Locale } from './i18n';
import { JourneyList } from './JourneyList';
import { timeIn } from './format';

// The journey page brings React Flow and the layout: loaded when first opened.
const JourneyPage = lazy(() => import('./JourneyPage'));
const ContactsPage = lazy(() => import('./ContactsPage'));
const OpsPage = lazy(() => import('./OpsPage'));
const LaunchPage = lazy(() => import('./LaunchPage'));
const EditorPage = lazy(() => import('./EditorPage'));
const DashboardPage = lazy(() => import('./DashboardPage'));

function useHashRoute(): string {
  const [hash, setHash] = useState(() => location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#/, '') || '/';
}

export function App() {
  const [locale, setLocale] = useState<Locale>(initialLocale);
  const i18n = useMemo(() => ({ locale, m: MESSAGES[locale] }), [locale]);
  useEffect(() => {
    document.documentElement.lang = locale;
    document.title = MESSAGES[locale].appName;
  }, [locale]);
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    currentSession().then(setMe, (e: Error) => setError(e.message));
  }, []);
  const changeLocale = (l: Locale) => {
    saveLocale(l);
    setLocale(l);
  };
  return (
    <I18n.Provider value={i18n}>
      <Header me={me ?? null} locale={locale} onLocale={changeLocale} onSignedOut={() => setMe(null)} />
      <main id="main">
        {error ? <p role="alert">{error}</p> : me === undefined ? <p>{i18n.m.loading}</p> : me === null ? <SignIn onSignedIn={setMe} /> : <Pages me={me} onEnded={() => setMe(null)} />}
      </main>
    </I18n.Provider>
  );
}

function Header({ me, locale, onLocale, onSignedOut }: { me: Me | null; locale: Locale; onLocale: (l: Locale) => void; onSignedOut: () => void }) {
  const { t, m } = useT();
  const out = async () => {
    try {
      await signOut();
    } finally {
      location.hash = '';
      onSignedOut();
    }
  };
  return (
    <header className="top">
      <a className="brand" href="#/">
        {m.appName}
      </a>
      {me && (
        <nav aria-label={m.appName}>
          {can.journeys(me.role) && <a href="#/">{m.journeys}</a>}
          {can.journeys(me.role) && <a href="#/edit">{m.editor}</a>}
          {can.contacts(me.role) && <a href="#/contacts">{m.contacts}</a>}
          {can.runs(me.role) && <a href="#/ops">{m.ops}</a>}
          {can.analytics(me.role) && <a href="#/dashboard">{m.dashboard}</a>}
        </nav>
      )}
      <span className="spacer" />
      <label className="lang">
        {m.language}{' '}
        <select value={locale} onChange={(e) => onLocale(e.target.value as Locale)}>
          {LOCALES.map((l) => (
            <option key={l} value={l}>
              {l === 'en' ? 'English' : '简体中文'}
            </option>
          ))}
        </select>
      </label>
      {me && (
        <>
          <span className="who" title={me.expiresAt ? t('sessionEnds', { time: timeIn(me.expiresAt) }) : undefined}>
            {t('signedInAs', { name: me.name, role: me.role })}
          </span>
          <button type="button" onClick={() => void out()}>
            {m.signOut}
          </button>
        </>
      )}
    </header>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const { m } = useT();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(key.trim()));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="signin" onSubmit={(e) => void submit(e)}>
      <h1>{m.signInTitle}</h1>
      <p>{m.signInHelp}</p>
      <label htmlFor="api-key">{m.apiKey}</label>
      <input id="api-key" name="apiKey" type="password" autoComplete="off" required value={key} onChange={(e) => setKey(e.target.value)} />
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? m.signingIn : m.signIn}
      </button>
    </form>
  );
}

function Pages({ me, onEnded }: { me: Me; onEnded: () => void }) {
  const { t, m } = useT();
  const route = useHashRoute();
  // A 401 from any page means the session ended (signed out elsewhere, expired, key revoked): back to sign-in.
  const onError = useCallback(
    (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) onEnded();
    },
    [onEnded],
  );
  const lazyPage = (page: ReactNode) => <Suspense fallback={<p>{m.loading}</p>}>{page}</Suspense>;
  const contact = /^\/contacts(?:\/([^/]+))?$/.exec(route);
  if (contact && can.contacts(me.role)) return lazyPage(<ContactsPage id={contact[1] ? decodeURIComponent(contact[1]) : null} me={me} onError={onError} />);
  const launch = /^\/journeys\/([^/]+)\/launch$/.exec(route);
  if (launch && can.journeys(me.role)) return lazyPage(<LaunchPage id={decodeURIComponent(launch[1]!)} onError={onError} />);
  const edit = /^\/edit(?:\/([^/]+))?$/.exec(route);
  if (edit && can.journeys(me.role)) return lazyPage(<EditorPage key={edit[1] ?? ''} id={edit[1] ? decodeURIComponent(edit[1]) : null} me={me} onError={onError} />);
  const journey = /^\/journeys\/([^/]+)$/.exec(route);
  if (journey && can.journeys(me.role)) return lazyPage(<JourneyPage id={decodeURIComponent(journey[1]!)} me={me} onError={onError} />);
  if (route === '/dashboard' && can.analytics(me.role)) return lazyPage(<DashboardPage onError={onError} />);
  const ops = /^\/ops(?:\/runs\/([^/]+))?$/.exec(route);
  if (ops && can.runs(me.role)) return lazyPage(<OpsPage workflowId={ops[1] ? decodeURIComponent(ops[1]) : null} onError={onError} />);
  if (can.journeys(me.role)) return <JourneyList onError={onError} />;
  // A role without the journey list starts on its own first page.
  if (can.runs(me.role)) return lazyPage(<OpsPage workflowId={null} onError={onError} />);
  if (can.contacts(me.role)) return lazyPage(<ContactsPage id={null} me={me} onError={onError} />);
  return <p>{t('noPages', { role: me.role })}</p>;
}
