/**
 * The README's example, run against a live server by tests/client/example.test.ts: a CRM upserts a contact, posts an
 * event, receives itinera's signed hand-off webhook, verifies it and answers through the API.
 */
import { createServer, type Server } from 'node:http';
import { createItineraClient, verifyWebhook, type HandoffCreated, type ItineraClient } from './src/index';

export { createItineraClient };

/** Upserts the lead by its CRM id, then tells itinera it became an MQL; a journey on `lead.mql` hands it to sales. */
export async function syncLead(api: ItineraClient, crmId: string) {
  const put = await api.PUT('/v1/contacts/{externalId}', {
    params: { path: { externalId: crmId } },
    body: { email: 'Li.Na@Example.cn', phone: '138 0013 8000', country: 'CN', firstName: 'Na', region: '北京市', lifecycleStage: 'lead', tags: ['webinar-2026'] },
  });
  if (put.error) throw new Error(`upsert failed: ${put.error.title}`);

  const posted = await api.POST('/v1/events', {
    body: { id: `mql-${crmId}`, type: 'lead.mql', contact: { externalId: crmId }, properties: { source: 'crm' } },
  });
  if (posted.error) throw new Error(`event refused: ${posted.error.title}`);
  // Typed from the OpenAPI document: accepted[].contactId, accepted[].runs, rejected[].errors …
  return { contactId: posted.data.accepted[0]!.contactId!, runs: posted.data.accepted[0]!.runs };
}

/** The CRM's webhook endpoint: answers 401 to anything not signed by itinera, hands verified hand-offs on. */
export function handoffReceiver(secrets: readonly string[], onHandoff: (h: HandoffCreated, webhookId: string) => void): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks); // verify the bytes as sent, never re-serialized JSON
      const check = verifyWebhook(req.headers, raw, secrets);
      if (!check.ok) {
        res.writeHead(401).end(check.reason);
        return;
      }
      const payload = JSON.parse(raw.toString('utf8')) as HandoffCreated;
      if (payload.type === 'handoff.created') onHandoff(payload, check.id); // dedupe on check.id: retries keep it
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    });
  });
}

/** The rep took the lead: tell itinera, which moves the contact's journey on. */
export async function acceptHandoff(api: ItineraClient, handoffId: string, opportunityId: string) {
  const { data, error } = await api.POST('/v1/handoffs/{id}/feedback', {
    params: { path: { id: handoffId } },
    body: { outcome: 'accepted', opportunityId },
  });
  if (error || !data) throw new Error(`feedback refused: ${error?.title ?? 'no body'}`);
  return data.handoff.status;
}

/** A dry run of a CSV import (a marketer key): the body is the file, sent unchanged; poll the import until it is counted. */
export async function dryRunImport(api: ItineraClient, csv: string) {
  const started = await api.POST('/v1/imports', {
    params: { query: { dryRun: 'true', fileName: 'contacts.csv' } },
    body: csv,
    bodySerializer: (b: string) => b,
    headers: { 'content-type': 'text/csv' },
  });
  if (started.error || !started.data) throw new Error(`import refused: ${started.error?.title ?? 'no body'}`);
  for (;;) {
    const { data } = await api.GET('/v1/imports/{importId}', { params: { path: { importId: started.data.importId } } });
    if (data && data.status !== 'running') return data;
    await new Promise((r) => setTimeout(r, 200));
  }
}
