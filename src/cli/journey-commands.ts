/**
 * `itinera validate | diff | simulate` — the journey language from the command line.
 *
 * Exit codes: 0 ok, 1 invalid user input (bad journey, contact or timeline, missing file),
 * 2 system error (a bug or an environment problem).
 */
import type { Topics } from '../contacts/topics';
import { loadConfig } from '../config';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { int32 } from '../bounds';
import { compileJourney, eventTypesOfPlan, formatLocated, formatPath, type CompileResult } from '../journey/compiler';
import { Contact } from '../journey/schema';
import { parseOutboundAllow, type OutboundAllowList } from '../net/addresses';
import { formatSimulation, resolveTime, simulate, type SimulationOptions } from '../journey/simulator';
import { formatFireTimes, scheduleFireTimes } from '../journey/cron';
import { loadTemplateCatalog, type TemplateCatalog } from '../templates/catalog';
import { contentHash, diffPlans, formatDiff } from '../journey/versions';
import { parseScoringModel, ScoringModelError } from '../scoring/model';

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_SYSTEM = 2;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: CliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/** A problem the user can fix (exit code 1), as opposed to a bug (exit code 2). */
export class UserInputError extends Error {
  override name = 'UserInputError';
}

export interface TemplateOption {
  /** Template directory. @default `<journey dir>/templates` when it exists, else templates are not checked */
  templates?: string;
}

function readText(file: string): string {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UserInputError(`${file}: no such file`);
  return readFileSync(file, 'utf8');
}

async function catalogFor(file: string, opts: TemplateOption): Promise<TemplateCatalog | undefined> {
  const dir = opts.templates ?? join(dirname(file), 'templates');
  if (opts.templates !== undefined && !existsSync(dir)) throw new UserInputError(`${dir}: template directory not found`);
  return existsSync(dir) ? await loadTemplateCatalog(dir) : undefined;
}

/**
 * OUTBOUND_ALLOW of the deployment the journey is for, so `validate` judges webhook hosts as publish will. Read on its
 * own: these commands work offline and need none of the other settings.
 */
function outboundAllowFromEnv(): OutboundAllowList {
  const { allow, errors } = parseOutboundAllow(process.env.OUTBOUND_ALLOW ?? '');
  if (errors.length) throw new UserInputError(`OUTBOUND_ALLOW: ${errors.join('; ')}`);
  return allow;
}

/** MAIL_TOPICS of the deployment, read on its own like OUTBOUND_ALLOW (same validation as start-up). */
function topicsFromEnv(): Topics {
  try {
    return loadConfig({ MAIL_TOPICS: process.env.MAIL_TOPICS }).mail.topics;
  } catch (err) {
    throw new UserInputError(err instanceof Error ? err.message : String(err));
  }
}

async function compileFile(file: string, opts: TemplateOption, knownEventTypes?: readonly string[]): Promise<CompileResult> {
  const templates = await catalogFor(file, opts);
  return compileJourney(readText(file), { file, ...(templates ? { templates } : {}), outboundAllow: outboundAllowFromEnv(), topics: topicsFromEnv(), ...(knownEventTypes ? { knownEventTypes, eventTypeWarnings: 'typos' as const } : {}) });
}

const siblingTypes = new Map<string, Map<string, string[]>>();
/**
 * Without a database the CLI cannot know which event types the CRM sends; the journeys beside this one stand in for
 * that: a type another journey in the directory uses is taken as known (the system's own types always are).
 */
function eventTypesOfSiblings(file: string): string[] {
  const dir = resolve(dirname(file));
  let byFile = siblingTypes.get(dir);
  if (!byFile) {
    byFile = new Map();
    for (const name of readdirSync(dir)) {
      if (!/\.(ya?ml|json)$/.test(name) || name === 'scoring.yaml' || name.endsWith('.schema.json')) continue;
      const path = join(dir, name);
      if (!statSync(path).isFile()) continue;
      const r = compileJourney(readFileSync(path, 'utf8'));
      if (r.ok) byFile.set(path, eventTypesOfPlan(r.plan));
    }
    siblingTypes.set(dir, byFile);
  }
  const self = resolve(file);
  return [...byFile].filter(([path]) => path !== self).flatMap(([, types]) => types);
}

async function compiledOrThrow(file: string, opts: TemplateOption, io: CliIo) {
  const r = await compileFile(file, opts);
  if (!r.ok) {
    for (const e of r.errors) io.err(formatLocated(e));
    throw new UserInputError(`${file} is not a valid journey`);
  }
  return r.plan;
}

async function guarded(io: CliIo, fn: () => Promise<number> | number): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserInputError) {
      io.err(err.message);
      return EXIT_USER;
    }
    io.err(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT_SYSTEM;
  }
}

export function validateCommand(files: string[], opts: TemplateOption = {}, io: CliIo = processIo): Promise<number> {
  return guarded(io, async () => {
    let code = EXIT_OK;
    for (const file of files) {
      // journeys/scoring.yaml is the lead-scoring model, checked by its own parser, so `validate journeys/*.yaml` works.
      if (basename(file) === 'scoring.yaml') {
        try {
          const model = parseScoringModel(readFileSync(file, 'utf8'), file);
          io.out(`✓ ${file} (scoring model, ${Object.keys(model.behaviour).length} behaviour and ${Object.keys(model.fit).length} fit rules)`);
        } catch (err) {
          if (!(err instanceof ScoringModelError)) throw err;
          io.out(`✗ ${file}`);
          io.err(`  ${err.message}`);
          code = EXIT_USER;
        }
        continue;
      }
      let r: CompileResult;
      try {
        r = await compileFile(file, opts, existsSync(file) ? eventTypesOfSiblings(file) : undefined);
      } catch (err) {
        if (!(err instanceof UserInputError)) throw err;
        io.err(`✗ ${err.message}`);
        code = EXIT_USER;
        continue;
      }
      if (r.ok) {
        io.out(`✓ ${file} (${Object.keys(r.plan.steps).length} steps, ${contentHash(r.plan).slice(0, 19)})`);
      } else {
        io.out(`✗ ${file}`);
        for (const e of r.errors) io.err(`  ${formatLocated(e)}`);
        code = EXIT_USER;
      }
      for (const w of r.warnings) io.err(`  warning: ${formatLocated(w)}`);
    }
    return code;
  });
}

export function diffCommand(a: string, b: string, opts: TemplateOption = {}, io: CliIo = processIo): Promise<number> {
  return guarded(io, async () => {
    const before = await compiledOrThrow(a, opts, io);
    const after = await compiledOrThrow(b, opts, io);
    io.out(`--- ${a} ${contentHash(before).slice(0, 19)}`);
    io.out(`+++ ${b} ${contentHash(after).slice(0, 19)}`);
    io.out(formatDiff(diffPlans(before, after)));
    return EXIT_OK;
  });
}

export const TimelineEntry = z.strictObject({
  at: z.union([z.string(), z.number()]),
  type: z.string().min(1),
  properties: z.record(z.string(), z.unknown()).optional(),
  id: z.string().optional(),
  contact: Contact.partial().optional(),
});
export const ScriptedResult = z.strictObject({
  kind: z.string().optional(),
  stepId: z.string().optional(),
  outcome: z.enum(['ok', 'failed']),
  permanent: z.boolean().optional(),
  error: z.string().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  times: int32({ min: 1 }).optional(),
});
/** A timeline file: a list of events, or an object that can also set the start and scripted results. */
export const TimelineFile = z.union([
  z.array(TimelineEntry),
  z.strictObject({
    start: z.union([z.string(), z.number()]).optional(),
    trigger: z.strictObject({ type: z.string(), properties: z.record(z.string(), z.unknown()).optional() }).optional(),
    events: z.array(TimelineEntry).default([]),
    results: z.array(ScriptedResult).optional(),
    priorMessages: z.array(z.strictObject({ channel: z.enum(['email', 'sms']), at: z.union([z.string(), z.number()]) })).optional(),
  }),
]);

function readJson<T>(file: string, schema: z.ZodType<T>): T {
  let data: unknown;
  try {
    data = JSON.parse(readText(file));
  } catch (err) {
    if (err instanceof UserInputError) throw err;
    throw new UserInputError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const r = schema.safeParse(data);
  if (!r.success) {
    throw new UserInputError(r.error.issues.map((i) => `${file}: ${formatPath(i.path as (string | number)[]) || '(root)'}: ${i.message}`).join('\n'));
  }
  return r.data;
}

export interface SimulateOptions extends TemplateOption {
  contact: string;
  events?: string;
  /** ISO date-time. @default the timeline's start, else now */
  start?: string;
  json?: boolean;
}

export function simulateCommand(file: string, opts: SimulateOptions, io: CliIo = processIo): Promise<number> {
  return guarded(io, async () => {
    const plan = await compiledOrThrow(file, opts, io);
    const contact = readJson(opts.contact, Contact);
    const timeline = opts.events ? readJson(opts.events, TimelineFile) : [];
    const t = Array.isArray(timeline) ? { events: timeline } : timeline;
    const start = opts.start ?? t.start;
    if (start !== undefined && typeof start === 'string' && Number.isNaN(Date.parse(start))) {
      throw new UserInputError(`--start: ${JSON.stringify(start)} is not an ISO date-time`);
    }
    let result;
    try {
      result = simulate(plan, {
        contact,
        events: t.events as SimulationOptions['events'],
        ...(start !== undefined ? { start } : {}),
        ...('trigger' in t && t.trigger ? { trigger: t.trigger } : {}),
        ...('results' in t && t.results ? { results: t.results as SimulationOptions['results'] } : {}),
        ...('priorMessages' in t && t.priorMessages ? { priorMessages: t.priorMessages } : {}),
      });
    } catch (err) {
      // resolveTime rejects unreadable timeline times with a sentence.
      if (err instanceof Error && / is not a time /.test(err.message)) throw new UserInputError(`${opts.events}: ${err.message}`);
      throw err;
    }
    // Schedule triggers: when the next launches happen, in each trigger's zone, from the simulated start.
    const schedule = scheduleFireTimes(plan.triggers, start === undefined ? Date.now() : resolveTime(start, 0));
    if (opts.json) {
      const { state: _state, ...rest } = result;
      io.out(JSON.stringify({ ...rest, ...(schedule.length ? { schedule } : {}) }, null, 2));
    } else io.out([formatSimulation(result), ...(schedule.length ? [formatFireTimes(schedule)] : [])].join('\n'));
    return EXIT_OK;
  });
}

export function registerJourneyCommands(program: Command): void {
  const setExit = (code: number) => {
    process.exitCode = code;
  };
  program
    .command('validate')
    .description('check journey files (YAML or JSON) and their templates')
    .argument('<files...>', 'journey files')
    .option('--templates <dir>', 'template directory (default: templates/ next to each journey)')
    .action(async (files: string[], opts: TemplateOption) => setExit(await validateCommand(files, opts)));
  program
    .command('diff')
    .description('show what changes between two versions of a journey')
    .argument('<a>', 'old journey file')
    .argument('<b>', 'new journey file')
    .option('--templates <dir>', 'template directory')
    .action(async (a: string, b: string, opts: TemplateOption) => setExit(await diffCommand(a, b, opts)));
  program
    .command('simulate')
    .description('preview the path a contact takes through a journey, on a virtual clock')
    .argument('<file>', 'journey file')
    .requiredOption('--contact <file>', 'contact JSON')
    .option('--events <file>', 'timeline JSON: [{ "at": "+2d", "type": "email.clicked", "properties": {…} }]')
    .option('--start <iso>', 'start time (default: the timeline start, else now)')
    .option('--json', 'print the full result as JSON')
    .option('--templates <dir>', 'template directory')
    .action(async (file: string, opts: SimulateOptions) => setExit(await simulateCommand(file, opts)));
}
