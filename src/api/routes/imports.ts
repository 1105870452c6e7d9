import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { batchTaskQueue, cancelImportSignal, type ContactImportInput, importLaunchId, WorkflowType } from '../../contracts';
import type { Db } from '../../db/client';
import { contactImports, journeys } from '../../db/schema';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../../errors';
import { ImportMapping } from '../../imports/mapping';
import { UploadDecodeError } from '../../imports/records';
import { MatchKey } from '../../imports/rows';
import { rejectsFile, storeImport } from '../../imports/store';
import { defineRoute } from '../route';

/** @default 256 MiB */
export const DEFAULT_IMPORT_MAX_BYTES = 256 * 1024 * 1024;
/**
 * Rows per chunk: one checkpoint, one activity call. Large enough that a chunk's fixed round trips (activity, lease,
 * plan lookups, checkpoint) are a small part of its time: 500 gave a third of the import's time to them on a loaded machine.
 */
export const IMPORT_CHUNK_SIZE = 2000;
/** Characters per CSV cell or JSON line. */
const MAX_CELL = 1024 * 1024;

const CSV_TYPES = ['text/csv', 'application/csv'];
const JSONL_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/ndjson'];
const RAW_TYPES = [...CSV_TYPES, ...JSONL_TYPES, 'text/plain', 'application/octet-stream'];

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

export const ImportQuery = z.strictObject({
  format: z.enum(['csv', 'jsonl']).optional().meta({ description: 'Default: from the Content-Type (text/csv, application/x-ndjson).' }),
  dryRun: bool.default(false).meta({ description: 'Plan and count every row, write no contact.' }),
  encoding: z.enum(['utf-8', 'gbk']).optional().meta({ description: 'Default: UTF-8, or GBK when the file is not valid UTF-8 and is valid GBK (the import reports the one used as `encoding`).' }),
  delimiter: z.string().length(1).refine((d) => !/["\r\n]/.test(d), 'cannot be a quote or a line break').optional().meta({ description: 'CSV only. Default: a comma.' }),
  country: z.string().regex(/^[A-Za-z]{2}$/, 'must be an ISO country code such as CN').default('CN').meta({ description: 'Region of national phone numbers and short region codes.' }),
  precedence: z
    .string()
    .default('externalId,email,phone')
    .transform((s, ctx) => {
      const keys = s.split(',').map((k) => k.trim());
      const parsed = z.array(MatchKey).safeParse(keys);
      if (!parsed.success || new Set(keys).size !== 3) {
        ctx.addIssue({ code: 'custom', message: 'must list externalId, email and phone, each once, in the order that picks the contact a row updates' });
        return z.NEVER;
      }
      return parsed.data;
    }),
  duplicates: z.enum(['merge', 'reject']).default('merge').meta({ description: 'A row sharing a CRM id, email or phone with an earlier row: merged into that contact, or rejected.' }),
  mapping: z
    .string()
    .max(16_000)
    .transform((s, ctx) => {
      let v: unknown;
      try {
        v = JSON.parse(s);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
      const m = ImportMapping.safeParse(v);
      if (!m.success) {
        for (const i of m.error.issues) ctx.addIssue({ code: 'custom', path: i.path as (string | number)[], message: i.message });
        return z.NEVER;
      }
      return m.data;
    })
    .optional()
    .meta({ description: 'JSON: { "columns": { "<source column>": "<field>" | { "field", "trim", "lower", "map", "split", "date" } } }. Default: columns named like fields.' }),
  fileName: z.string().max(300).optional(),
  journey: z.string().min(1).max(100).optional().meta({ description: "Once written, enrol the contacts this import wrote into this journey's latest version (an audience launch: /v1/launches/{launchId})." }),
});

export const ImportView = z.object({
  importId: z.string(),
  status: z.enum(['running', 'completed', 'cancelled', 'failed']),
  dryRun: z.boolean(),
  format: z.enum(['csv', 'jsonl']),
  /** The encoding the file was read in: the one asked for, or the one detected. */
  encoding: z.enum(['utf-8', 'gbk']),
  fileName: z.string().nullable(),
  bytes: z.number().int(),
  sha256: z.string(),
  totalRows: z.number().int(),
  rowsDone: z.number().int(),
  created: z.number().int(),
  updated: z.number().int(),
  merged: z.number().int(),
  rejected: z.number().int(),
  /** Rows per second since the import began. */
  rowsPerSecond: z.number(),
  /** Seconds left at that rate; null once ended or before the first chunk. */
  etaSeconds: z.number().int().nullable(),
  rejectsUrl: z.string(),
  /** The audience launch enrolling the imported contacts (`journey`), once the import has written them. */
  launchId: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
  completedAt: z.date().nullable(),
  error: z.string().nullable(),
});

type ImportRow = typeof contactImports.$inferSelect;

export function importView(r: ImportRow, now = new Date()): z.infer<typeof ImportView> {
  const end = r.completedAt ?? (r.status === 'running' ? now : r.updatedAt);
  const seconds = Math.max(0.001, (end.getTime() - r.createdAt.getTime()) / 1000);
  const rate = r.rowsDone / seconds;
  return {
    importId: r.id,
    status: r.status as z.infer<typeof ImportView>['status'],
    dryRun: r.dryRun,
    format: r.format as 'csv' | 'jsonl',
    encoding: (r.options as { encoding?: 'utf-8' | 'gbk' }).encoding ?? 'utf-8',
    fileName: r.fileName,
    bytes: r.bytes,
    sha256: r.sha256,
    totalRows: r.totalRows,
    rowsDone: r.rowsDone,
    created: r.created,
    updated: r.updated,
    merged: r.merged,
    rejected: r.rejected,
    rowsPerSecond: Math.round(rate * 10) / 10,
    etaSeconds: r.status === 'running' && rate > 0 ? Math.ceil((r.totalRows - r.rowsDone) / rate) : null,
    rejectsUrl: `/v1/imports/${r.id}/rejects`,
    launchId: (r.options as { enrol?: unknown }).enrol ? importLaunchId(r.id) : null,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    completedAt: r.completedAt,
    error: r.error,
  };
}

type Upload = { file: string; sha256: string; bytes: number };
declare module 'express-serve-static-core' {
  interface Request {
    upload?: Upload;
  }
}

/**
 * Streams the request body to a temporary file, hashing and counting it (413 past `maxBytes`); `req.body` becomes the
 * file's sha256 and size, which is what an Idempotency-Key's fingerprint covers. The file goes when the response does.
 */
function receiveUpload(maxBytes: number): RequestHandler {
  return (req, res, next) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!RAW_TYPES.includes(type)) {
      next(new DomainError('unsupported_media_type', 415, `Send the file itself as the body, with Content-Type ${RAW_TYPES.join(', ')}.`, [{ path: 'Content-Type', message: `is "${type || 'missing'}"` }]));
      return;
    }
    const declared = Number(req.headers['content-length']);
    const tooLarge = () => new DomainError('payload_too_large', 413, `The file is larger than ${maxBytes.toLocaleString('en-US')} bytes (IMPORT_MAX_BYTES); split it.`, [{ path: 'body', message: 'too large' }]);
    if (Number.isFinite(declared) && declared > maxBytes) {
      next(tooLarge());
      return;
    }
    void (async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'itinera-import-'));
      res.on('close', () => void rm(dir, { recursive: true, force: true }));
      const file = path.join(dir, 'upload');
      const hash = createHash('sha256');
      let bytes = 0;
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          if (bytes > maxBytes) return cb(tooLarge());
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(req, count, createWriteStream(file));
      const sha256 = hash.digest('hex');
      req.upload = { file, sha256, bytes };
      req.body = { file: { sha256, bytes } };
    })().then(() => next(), next);
  };
}

const contentFormat = (type: string | undefined): 'csv' | 'jsonl' | undefined => {
  const t = (type ?? '').split(';')[0]!.trim().toLowerCase();
  return CSV_TYPES.includes(t) ? 'csv' : JSONL_TYPES.includes(t) ? 'jsonl' : undefined;
};

export function importRoutes(deps: { db: Db; temporal: Client; taskQueue: string; maxBytes?: number }) {
  const { db } = deps;
  const maxBytes = deps.maxBytes ?? DEFAULT_IMPORT_MAX_BYTES;
  const find = async (id: string) => {
    const [row] = await db.select().from(contactImports).where(eq(contactImports.id, id));
    if (!row) throw new NotFoundError('Import', id);
    return row;
  };
  const start = async (row: ImportRow) => {
    const enrol = (row.options as { enrol?: { journeyId: string; version: number } }).enrol;
    const input: ContactImportInput = { v: 1, importId: row.id, ...(enrol ? { enrol: { ...enrol, createdBy: `${row.createdBy ?? 'api'} (import ${row.id})` } } : {}) };
    try {
      await deps.temporal.workflow.start(WorkflowType.ContactImport, { workflowId: row.id, taskQueue: batchTaskQueue(deps.taskQueue), args: [input] });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  };
  return [
    defineRoute({
      method: 'post',
      path: '/v1/imports',
      tag: 'imports',
      summary:
        'Import contacts from a CSV or JSON Lines file sent as the body (streamed, IMPORT_MAX_BYTES at most); options and the field mapping in the query. Runs in the background: poll /v1/imports/{importId}. A dry run plans and counts every row and writes no contact',
      auth: ['marketer'],
      idempotency: { mode: 'replay' },
      parse: receiveUpload(maxBytes),
      query: ImportQuery,
      bodyDoc: z.string().meta({ description: 'The file: CSV with a header row, or JSON Lines (one object per line).' }),
      bodyContentTypes: ['text/csv', 'application/x-ndjson'],
      responses: {
        202: { description: 'Stored and started; poll its progress at /v1/imports/{importId}', schema: ImportView },
        400: { description: 'Invalid option, mapping or file (each error names its field)' },
        413: { description: 'The file is larger than IMPORT_MAX_BYTES' },
        415: { description: 'Not a CSV, JSON Lines, text or octet-stream body' },
      },
      handler: async ({ query, req }) => {
        const upload = req.upload!;
        const format = query.format ?? contentFormat(req.headers['content-type']);
        if (!format) throw new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.format', message: 'is required when the Content-Type does not say (text/csv or application/x-ndjson)' }]);
        if (query.delimiter && format !== 'csv') throw new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.delimiter', message: 'only applies to CSV' }]);
        let enrol: { journeyId: string; version: number } | undefined;
        if (query.journey !== undefined) {
          const bad = (message: string) => new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.journey', message }]);
          if (query.dryRun) throw bad('a dry run writes no contact, so it enrols no one: drop journey, or dryRun');
          const [journey] = await db.select().from(journeys).where(eq(journeys.id, query.journey));
          if (!journey) throw bad(`no journey "${query.journey}"`);
          if (!journey.latestVersion || journey.status !== 'active') throw bad(`journey "${journey.id}" is not published and active`);
          enrol = { journeyId: journey.id, version: journey.latestVersion };
        }
        const importId = `import_${randomUUID()}`;
        let row: ImportRow;
        try {
          row = await storeImport(
            db,
            createReadStream(upload.file),
            {
              id: importId,
              options: { ...(enrol ? { enrol } : {}), format, encoding: query.encoding ?? 'auto', country: query.country.toUpperCase(), precedence: query.precedence, duplicates: query.duplicates, dryRun: query.dryRun, ...(query.delimiter ? { delimiter: query.delimiter } : {}), ...(query.mapping ? { mapping: query.mapping } : {}) },
              ...(query.fileName ? { fileName: query.fileName } : {}),
              sha256: upload.sha256,
              bytes: upload.bytes,
              createdBy: req.principal?.name ?? 'api',
            },
            { maxBytes, maxCell: MAX_CELL, chunkSize: IMPORT_CHUNK_SIZE },
          );
        } catch (err) {
          if (err instanceof UploadDecodeError) throw new ValidationError('The file cannot be decoded.', [{ path: 'query.encoding', message: err.message }]);
          if (err instanceof ValidationError) throw new ValidationError(err.message, err.errors.map((e) => ({ ...e, path: e.path.startsWith('mapping') ? `query.${e.path}` : e.path })));
          throw err;
        }
        // Should the API die between the commit and this start, the next GET of the import starts it (see below).
        if (row.status === 'running') await start(row);
        return { status: 202, headers: { Location: `/v1/imports/${importId}` }, body: importView(row) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/imports/:importId',
      tag: 'imports',
      summary: 'Progress of an import: rows done of the total, counts by outcome (created, updated, merged, rejected), rate and ETA. A running import whose workflow is gone (the API died before starting it, or it was terminated) is started again from its checkpoint',
      auth: ['marketer'],
      params: z.object({ importId: z.string().min(1).max(200) }),
      responses: { 200: { description: 'The import', schema: ImportView }, 404: { description: 'No such import' } },
      handler: async ({ params }) => {
        const row = await find(params.importId);
        if (row.status === 'running') await start(row);
        return { body: importView(row) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/imports/:importId/rejects',
      tag: 'imports',
      summary: 'The rejected rows so far, in the input\'s format: CSV with `_row`, `_column` and `_reason` columns added, or JSON Lines with those fields added',
      auth: ['marketer'],
      params: z.object({ importId: z.string().min(1).max(200) }),
      responses: { 200: { description: 'text/csv or application/x-ndjson' }, 404: { description: 'No such import' } },
      handler: async ({ params, res }) => {
        const row = await find(params.importId);
        res.status(200).type(row.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
        res.set('Content-Disposition', `attachment; filename="${row.id}-rejects.${row.format === 'csv' ? 'csv' : 'jsonl'}"`);
        for await (const part of rejectsFile(db, row)) {
          if (!res.write(part)) await new Promise((r) => res.once('drain', r));
        }
        res.end();
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/imports/:importId/cancel',
      tag: 'imports',
      summary: 'Stop a running import after the chunk in flight; contacts already written stay, the counts stay exact',
      auth: ['marketer'],
      params: z.object({ importId: z.string().min(1).max(200) }),
      responses: { 202: { description: 'Cancellation requested', schema: ImportView }, 404: { description: 'No such import' }, 409: { description: 'The import has ended' } },
      handler: async ({ params, req }) => {
        const row = await find(params.importId);
        if (row.status !== 'running') throw new ConflictError(`Import "${row.id}" has already ended (${row.status}).`);
        await deps.temporal.workflow.getHandle(row.id).signal(cancelImportSignal, { by: req.principal?.name ?? 'api' });
        return { status: 202, body: importView(row) };
      },
    }),
  ];
}
