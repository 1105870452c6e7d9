/**
 * `itinera contacts export|erase` — a contact's rights (access, erasure) over the running API, by our id or the CRM id.
 * Export needs an ops or admin key, erase an admin key. Exit codes: 0 ok, 1 user error (unknown, erased, no --yes),
 * 2 system error.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { apiTarget, call, type ApiTarget } from './api-client';
import { addContactImportCommand } from './contacts-import';
import { CliError } from './errors';

type Common = { api?: string; key?: string };
export type ErasureReport = { contactId: string; contacts: number; runsCancelled: string[]; rows: Record<string, number>; auditId: number };

/** The export as indented JSON text, written to `out` (a file) or returned for stdout. */
export async function exportContactJson(target: ApiTarget, id: string): Promise<string> {
  return `${JSON.stringify(await call<unknown>(target, 'GET', `/v1/contacts/${encodeURIComponent(id)}/export`), null, 2)}\n`;
}

export async function eraseContactCli(target: ApiTarget, id: string, opts: { yes?: boolean }): Promise<ErasureReport> {
  if (!opts.yes) throw new CliError(`erasing ${id} cannot be undone; run again with --yes to confirm`);
  return call<ErasureReport>(target, 'DELETE', `/v1/contacts/${encodeURIComponent(id)}`);
}

export function erasureLines(r: ErasureReport): string {
  const rows = Object.entries(r.rows).map(([table, n]) => `  ${table}: ${n}`);
  return [`erased contact ${r.contactId} (${r.contacts} record${r.contacts === 1 ? '' : 's'}), audit #${r.auditId}`, `runs cancelled: ${r.runsCancelled.length}`, 'rows changed:', ...rows].join('\n');
}

export function registerContactCommands(program: Command) {
  const contacts = program.command('contacts').description("contacts: import a file; a contact's rights (export everything stored about them, or erase them: GDPR / PIPL)");
  addContactImportCommand(contacts);
  const api = (cmd: Command) => cmd.option('--api <url>', 'itinera API base URL').option('--key <key>', 'API key (export: ops or admin; erase: admin)');

  api(contacts.command('export').description('everything stored about a contact, as JSON').argument('<id>', 'our contact id or the CRM id'))
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .action(async (id: string, o: Common & { out?: string }) => {
      const json = await exportContactJson(apiTarget(o), id);
      if (o.out) writeFileSync(o.out, json, { mode: 0o600 });
      else process.stdout.write(json);
    });

  api(contacts.command('erase').description('erase a contact: personal data removed, runs cancelled, address kept only as a hash on the suppression list').argument('<id>', 'our contact id or the CRM id'))
    .option('--yes', 'confirm: erasure cannot be undone')
    .action(async (id: string, o: Common & { yes?: boolean }) => {
      process.stdout.write(`${erasureLines(await eraseContactCli(apiTarget(o), id, o))}\n`);
    });
}
