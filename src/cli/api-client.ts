/** Talking to the running itinera API from the CLI: where it is, which key, and errors as the user should see them. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { CliError } from './errors';

export type ApiTarget = { base: string; key: string };

/** API base and key: flags, then ITINERA_API_URL / ITINERA_API_KEY, then the embedded default's port and dev key. */
export function apiTarget(opts: { api?: string; key?: string }): ApiTarget {
  const config = loadConfig();
  const base = (opts.api ?? process.env.ITINERA_API_URL ?? `http://127.0.0.1:${config.port}`).replace(/\/$/, '');
  const devKeyFile = path.join(config.dataDir, 'dev-api-key');
  const key = opts.key ?? process.env.ITINERA_API_KEY ?? (existsSync(devKeyFile) ? readFileSync(devKeyFile, 'utf8').trim() : undefined);
  if (!key) throw new CliError('no API key: pass --key, set ITINERA_API_KEY, or run `npm start` once (it writes a development key)');
  return { base, key };
}

/** A JSON call; 4xx → CliError (exit 1) with the problem's detail and each field error, 5xx → Error (exit 2). */
export async function call<T>(target: ApiTarget, method: string, url: string, body?: unknown): Promise<T> {
  return send<T>(target, url, {
    method,
    headers: { Authorization: `Bearer ${target.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** Sends a file as the body (streamed from disk) and reads a JSON answer, with `call`'s error handling. */
export async function upload<T>(target: ApiTarget, url: string, file: string, contentType: string): Promise<T> {
  const { createReadStream, statSync } = await import('node:fs');
  const { Readable } = await import('node:stream');
  return send<T>(target, url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${target.key}`, 'content-type': contentType, 'content-length': String(statSync(file).size) },
    body: Readable.toWeb(createReadStream(file)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
}

/** A GET that answers `undefined` for 404 (the thing does not exist yet) and fails like `call` otherwise. */
export async function find<T>(target: ApiTarget, url: string): Promise<T | undefined> {
  return send<T>(target, url, { method: 'GET', headers: { Authorization: `Bearer ${target.key}` } }, { notFound: true });
}

/** One request with a JSON answer: 4xx → CliError with the problem's detail and field errors, 5xx or no answer → Error. */
async function send<T>(target: ApiTarget, url: string, init: RequestInit, opts: { notFound?: boolean } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.base}${url}`, init);
  } catch (err) {
    throw new Error(`cannot reach the itinera API at ${target.base} (${(err as Error).message}); is it running? (npm start, or npm run api; --api or ITINERA_API_URL point elsewhere)`, { cause: err });
  }
  if (opts.notFound && res.status === 404) {
    await res.body?.cancel();
    return undefined as T;
  }
  const json = (await res.json().catch(() => ({}))) as T & { detail?: string; errors?: { path: string; message: string }[] };
  if (res.status >= 400 && res.status < 500) {
    const lines = [json.detail ?? `HTTP ${res.status}`, ...(json.errors ?? []).map((e) => `  ${e.path}: ${e.message}`)];
    throw new CliError(lines.join('\n'));
  }
  if (!res.ok) throw new Error(`the API answered ${res.status}: ${json.detail ?? 'server error'}`);
  return json;
}

/** A GET whose body is text (a rejects file). */
export async function download(target: ApiTarget, url: string): Promise<string> {
  const res = await fetch(`${target.base}${url}`, { headers: { Authorization: `Bearer ${target.key}` } });
  if (!res.ok) throw new Error(`the API answered ${res.status} for ${url}`);
  return res.text();
}
