import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, sql } from 'drizzle-orm';
import { handoffActivities } from '../../src/activities/handoff';
import { notifyActivities } from '../../src/activities/notify';
import type { ActivityDeps } from '../../src/activities/deps';
import { generateWebhookSecret, verifyWebhook } from '../../src/channels/webhooks';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { contactAudit, contacts, salesAssignmentCursors, salesHandoffs } from '../../src/db/schema';
import { createTextRenderer } from '../../src/templates/text';
import { parseSalesConfig, type SalesDeps } from '../../src/sales';
import { TEMPLATES_DIR } from '../../src/paths';
import { createTestDatabase } from '../helpers/db';
import { json, startHttp, type RecordedRequest, type TestHttp } from '../channels/support/http';
import { scaled } from '../helpers/timing';
import { localOutbound } from '../helpers/outbound';

export const TEST_SALES = `
teams:
  east:
    name: East
    regions: [Shanghai, east]
    manager: { id: mgr.east, name: 周敏, chat: { wecom: WxZhouMin } }
    reps:
      - { id: a, name: 李娜, capacity: 1000, chat: { wecom: WxLiNa, slack: U0A } }
      - { id: b, name: 陈浩, capacity: 1000, chat: { wecom: WxChenHao } }
      - { id: c, name: 徐静, capacity: 1000 }
  busy:
    name: Busy
    reps:
      - { id: b1, name: B1, capacity: 1000 }
      - { id: b2, name: B2, capacity: 1000 }
      - { id: b3, name: B3, capacity: 1000 }
      - { id: b4, name: B4, capacity: 1000 }
  small:
    name: Small
    reps:
      - { id: s1, name: S1, capacity: 1 }
      - { id: s2, name: S2, capacity: 2 }
      - { id: s3, name: S3 on holiday, capacity: 0 }
  industrial:
    name: Industrial
    industries: [manufacturing]
    reps: [{ id: i1, name: I1, capacity: 1000 }]
  inside:
    name: Inside
    reps: [{ id: n1, name: N1, capacity: 1000 }]
territories:
  china: { teams: [industrial, east], fallback: inside }
`;

const SECRET = generateWebhookSecret();

describe('handoffToSales: assignment rules', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let crm: TestHttp;
  let crmStatus: number[] = [];
  let acts: ReturnType<typeof handoffActivities>;
  let sales: SalesDeps;
  let n = 0;

  const newContact = async (values: Omit<Partial<typeof contacts.$inferInsert>, 'externalId'> = {}) =>
    (await upsertContactByExternalId(db.db, { ...values, externalId: `c${++n}`, email: `c${n}@example.com` })).id;
  const handoff = (contactId: string, extra: { team?: string; owner?: string }, key = `w-${contactId}:assign:1`) =>
    acts.handoffToSales({ idempotencyKey: key, contactId, journeyId: 'mql-handoff', workflowId: `journey:mql-handoff:${contactId}`, stepId: 'assign', ...extra });
  const countsBy = async (team: string) => {
    const rows = await db.db
      .select({ rep: salesHandoffs.repId, n: sql<number>`count(*)::int` })
      .from(salesHandoffs)
      .where(eq(salesHandoffs.team, team))
      .groupBy(salesHandoffs.repId);
    return Object.fromEntries(rows.map((r) => [r.rep ?? '(none)', Number(r.n)])) as Record<string, number>;
  };

  beforeAll(async () => {
    [db, crm] = await Promise.all([
      createTestDatabase(),
      startHttp((_req, res) => json(res, crmStatus.shift() ?? 200, { ok: true })),
    ]);
    // The CRM client timeout is the production default (8 s) stretched: 200 hand-offs at once share one event loop.
    sales = {
      directory: parseSalesConfig(TEST_SALES, 'test-sales.yaml'),
      crmWebhook: { url: `${crm.url}/hooks/handoffs`, secrets: [SECRET], maxAttempts: 3, timeoutMs: scaled(8000) },
    };
    acts = handoffActivities({ db: db.db, sales, outbound: localOutbound, tracking: { baseUrl: 'https://itinera.example.com' } } as unknown as ActivityDeps);
  });
  afterAll(async () => {
    await crm?.close();
    await db?.drop();
  });
  beforeEach(() => {
    crmStatus = [];
  });

  it('rotates fairly through a team over 100 leads, one after another', async () => {
    const owners: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await handoff(await newContact(), { team: 'east' });
      expect(r.duplicate).toBe(false);
      owners.push(r.ownerId!);
    }
    // Strict rotation in file order.
    expect(owners.slice(0, 6)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    const counts = await countsBy('east');
    expect(counts).toEqual({ a: 34, b: 33, c: 33 });
    const [cursor] = await db.db.select().from(salesAssignmentCursors).where(eq(salesAssignmentCursors.team, 'east'));
    expect(cursor).toMatchObject({ lastRepId: 'a', assigned: 100 });
  });

  /**
   * 200 hand-offs at once take turns on the team's cursor row lock (SELECT … FOR UPDATE), so this is some 200
   * transactions of up to a dozen statements each, one after another: some 2,000 round trips to Postgres, each as slow as
   * the machine is busy (7 s at a load of 7, 20-27 s at 11-12 beside other test files). Its budget is the default,
   * stretched by TIME_SCALE (vitest.config.ts).
   */
  it('stays fair under concurrency and never assigns a key twice', async () => {
    const ids = await Promise.all(Array.from({ length: 100 }, () => newContact()));
    const mark = crm.requests.length;
    // Every lead is handed off twice at once (a retried activity racing itself): same key, one hand-off.
    const results = await Promise.all(ids.flatMap((id) => [handoff(id, { team: 'busy' }), handoff(id, { team: 'busy' })]));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(100);
    const counts = await countsBy('busy');
    expect(Object.values(counts).reduce((s, x) => s + x, 0)).toBe(100);
    const values = Object.values(counts);
    expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1);
    expect(Object.keys(counts).sort()).toEqual(['b1', 'b2', 'b3', 'b4']);
    // Both calls for a lead report the same rep, and it is the contact's owner now.
    for (let i = 0; i < ids.length; i++) {
      expect(results[2 * i]!.ownerId).toBe(results[2 * i + 1]!.ownerId);
      const [c] = await db.db.select({ ownerId: contacts.ownerId }).from(contacts).where(eq(contacts.id, ids[i]!));
      expect(c!.ownerId).toBe(results[2 * i]!.ownerId);
    }
    const perContact = await db.db
      .select({ c: salesHandoffs.contactId, n: sql<number>`count(*)::int` })
      .from(salesHandoffs)
      .where(eq(salesHandoffs.team, 'busy'))
      .groupBy(salesHandoffs.contactId);
    expect(perContact.every((r) => Number(r.n) === 1)).toBe(true);
    // One delivery id per hand-off. Two racing calls may both send it (at least once); the CRM dedupes on the id.
    const sent = crm.requests.slice(mark);
    expect(sent.every((r) => r.url === '/hooks/handoffs')).toBe(true);
    expect(new Set(sent.map((r) => r.headers['webhook-id']))).toEqual(new Set(ids.map((id) => `w-${id}:assign:1`)));
  });

  it('routes a territory by industry and region, with the fallback team for everyone else', async () => {
    const factory = await newContact({ region: '上海', industry: 'Manufacturing' });
    const shanghai = await newContact({ region: 'Shanghai', industry: 'retail' });
    const nowhere = await newContact({ region: 'Beijing' });
    expect(await handoff(factory, { team: 'china' })).toMatchObject({ ownerId: 'i1' });
    expect((await handoff(shanghai, { team: 'china' })).ownerId).toMatch(/^[abc]$/);
    expect(await handoff(nowhere, { team: 'china' })).toMatchObject({ ownerId: 'n1' });
    const [h] = await db.db.select().from(salesHandoffs).where(eq(salesHandoffs.contactId, shanghai));
    expect(h!.team).toBe('east');
    const [audit] = await db.db.select().from(contactAudit).where(and(eq(contactAudit.contactId, factory), eq(contactAudit.action, 'assign_owner')));
    expect(audit!.detail).toMatchObject({ from: null, to: 'i1', team: 'industrial', method: 'territory' });
  });

  it('skips reps at capacity and fails the step, writing nothing, when the whole team is full', async () => {
    const owners = [];
    for (let i = 0; i < 3; i++) owners.push((await handoff(await newContact(), { team: 'small' })).ownerId);
    // s1 holds 1, s2 holds 2, s3 is on holiday (capacity 0).
    expect(owners).toEqual(['s1', 's2', 's2']);
    const full = await newContact();
    const err = await handoff(full, { team: 'small' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'NoRepAvailable', nonRetryable: true });
    expect((err as Error).message).toBe('every rep of team "small" is at capacity (s1 1/1, s2 2/2, s3 0/0); assign this lead by hand');
    expect(await db.db.select().from(salesHandoffs).where(eq(salesHandoffs.contactId, full))).toEqual([]);
    const [c] = await db.db.select({ ownerId: contacts.ownerId }).from(contacts).where(eq(contacts.id, full));
    expect(c!.ownerId).toBeNull();

    // A finished hand-off frees its rep.
    const [s1] = await db.db.select().from(salesHandoffs).where(eq(salesHandoffs.repId, 's1'));
    await db.db.update(salesHandoffs).set({ status: 'accepted' }).where(eq(salesHandoffs.id, s1!.id));
    expect(await handoff(full, { team: 'small' })).toMatchObject({ ownerId: 's1', duplicate: false });
  });

  it('keeps an existing owner who has room, hands over when they are full, and keeps owners outside the directory', async () => {
    const [before] = await db.db.select().from(salesAssignmentCursors).where(eq(salesAssignmentCursors.team, 'east'));
    const owned = await newContact({ ownerId: 'c' });
    expect(await handoff(owned, { owner: 'c' })).toMatchObject({ ownerId: 'c', duplicate: false });
    // Keeping an owner is not a turn in the rotation.
    const [after] = await db.db.select().from(salesAssignmentCursors).where(eq(salesAssignmentCursors.team, 'east'));
    expect(after).toMatchObject({ lastRepId: before!.lastRepId, assigned: before!.assigned });

    const fullOwner = await newContact({ ownerId: 's2' });
    const r = await handoff(fullOwner, { owner: 's2' }).catch((e: unknown) => e);
    // s2 is full and so is the rest of team small: nobody can take it.
    expect(r).toMatchObject({ type: 'NoRepAvailable' });
    const [s2] = await db.db.select().from(salesHandoffs).where(eq(salesHandoffs.repId, 's2')).limit(1);
    await db.db.update(salesHandoffs).set({ status: 'rejected' }).where(eq(salesHandoffs.id, s2!.id));
    const [s1] = await db.db.select().from(salesHandoffs).where(and(eq(salesHandoffs.repId, 's1'), eq(salesHandoffs.status, 'pending')));
    expect(s1).toBeDefined();
    // s2 has room again: kept.
    expect(await handoff(fullOwner, { owner: 's2' })).toMatchObject({ ownerId: 's2' });
    // Now s2 is full again but s1 is not: the rotation hands over to s1.
    await db.db.update(salesHandoffs).set({ status: 'accepted' }).where(eq(salesHandoffs.id, s1!.id));
    const moved = await newContact({ ownerId: 's2' });
    expect(await handoff(moved, { owner: 's2' })).toMatchObject({ ownerId: 's1' });
    const [audit] = await db.db.select().from(contactAudit).where(and(eq(contactAudit.contactId, moved), eq(contactAudit.action, 'assign_owner')));
    expect(audit!.detail).toMatchObject({ from: 's2', to: 's1', method: 'owner_at_capacity', requested: 's2', team: 'small' });

    const crmOwned = await newContact({ ownerId: 'crm-user-9' });
    expect(await handoff(crmOwned, { owner: 'crm-user-9', team: 'east' })).toMatchObject({ ownerId: 'crm-user-9' });
  });

  it('fails non-retryably for a team that is not in the directory, naming the teams there are', async () => {
    const err = await handoff(await newContact(), { team: 'sales-mars' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'UnknownSalesTeam', nonRetryable: true });
    expect((err as Error).message).toMatch(/team "sales-mars" is neither a team nor a territory .*teams: east, busy, small, industrial, inside/);
  });

  it('assigns once per key under a retried activity: one hand-off, one CRM delivery id, re-sent until delivered', async () => {
    const contactId = await newContact({ firstName: 'Wei', lastName: 'Wang', company: 'ACME', region: 'east' });
    const key = `journey:mql-handoff:${contactId}:assign:7`;
    const mark = crm.requests.length;
    crmStatus = [503];
    // First attempt: assigned, but the CRM answers 503 — the activity throws so Temporal retries it.
    await expect(handoff(contactId, { team: 'east' }, key)).rejects.toThrow(/HTTP 503/);
    const [h] = await db.db.select().from(salesHandoffs).where(eq(salesHandoffs.idempotencyKey, key));
    expect(h).toMatchObject({ status: 'pending', team: 'east' });
    // The retry finds the hand-off and only re-sends.
    const second = await handoff(contactId, { team: 'east' }, key);
    expect(second).toMatchObject({ ownerId: h!.repId, duplicate: true, handoffId: h!.id, crm: 'delivered' });
    const third = await handoff(contactId, { team: 'east' }, key);
    expect(third).toMatchObject({ ownerId: h!.repId, duplicate: true, crm: 'delivered' });
    expect(await db.db.select().from(salesHandoffs).where(eq(salesHandoffs.idempotencyKey, key))).toHaveLength(1);

    const sent = crm.requests.slice(mark);
    expect(sent).toHaveLength(2);
    expect(sent.map((r) => r.headers['webhook-id'])).toEqual([key, key]);
    expect(sent[1]!.body).toBe(sent[0]!.body);
    const payload = JSON.parse(sent[1]!.body) as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: 'handoff.created',
      handoff: { id: h!.id, status: 'pending', team: 'east', assignment: 'round_robin', journeyId: 'mql-handoff' },
      rep: { id: h!.repId },
      contact: { id: contactId, email: expect.stringMatching(/@example\.com$/), firstName: 'Wei', lastName: 'Wang', company: 'ACME' },
      feedbackUrl: `https://itinera.example.com/v1/handoffs/${h!.id}/feedback`,
    });
    const row = await findMessageByKey(db.db, key);
    expect(row).toMatchObject({ channel: 'crm', status: 'delivered', attempts: 2, error: null });
  });

  describe('the CRM webhook signature', () => {
    let req: RecordedRequest;
    beforeAll(async () => {
      const mark = crm.requests.length;
      await handoff(await newContact(), { team: 'east' });
      req = crm.requests[mark]!;
    });

    it('verifies with our verifier, on the exact bytes sent', () => {
      expect(req.method).toBe('POST');
      expect(req.headers['content-type']).toBe('application/json');
      const ok = verifyWebhook(req.headers, req.body, [SECRET]);
      expect(ok).toMatchObject({ ok: true, id: req.headers['webhook-id'] });
      expect(Math.abs(Number(req.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    });

    it('is rejected for a tampered body, an expired timestamp, a forged timestamp and the wrong secret', () => {
      const tampered = req.body.replace(/"status":"pending"/, '"status":"accepted"');
      expect(tampered).not.toBe(req.body);
      expect(verifyWebhook(req.headers, tampered, [SECRET])).toEqual({ ok: false, reason: 'tampered' });
      const ts = Number(req.headers['webhook-timestamp']);
      expect(verifyWebhook(req.headers, req.body, [SECRET], { now: (ts + 301) * 1000 })).toEqual({ ok: false, reason: 'expired' });
      expect(verifyWebhook({ ...req.headers, 'webhook-timestamp': String(ts + 1) }, req.body, [SECRET])).toEqual({ ok: false, reason: 'tampered' });
      expect(verifyWebhook(req.headers, req.body, [generateWebhookSecret()])).toEqual({ ok: false, reason: 'tampered' });
    });
  });

  it('gives up on the CRM after maxAttempts, and at once on a 4xx, keeping the assignment', async () => {
    const down = await newContact();
    crmStatus = [500, 500, 500];
    await expect(handoff(down, { team: 'east' })).rejects.toThrow(/HTTP 500/);
    await expect(handoff(down, { team: 'east' })).rejects.toThrow(/HTTP 500/);
    const last = await handoff(down, { team: 'east' });
    expect(last).toMatchObject({ duplicate: true, crm: 'failed' });
    expect(await findMessageByKey(db.db, `w-${down}:assign:1`)).toMatchObject({ status: 'failed', attempts: 3, error: expect.stringMatching(/^gave up after 3 attempts: webhook: HTTP 500/) });

    const refused = await newContact();
    crmStatus = [422];
    expect(await handoff(refused, { team: 'east' })).toMatchObject({ duplicate: false, crm: 'failed' });
    expect(await findMessageByKey(db.db, `w-${refused}:assign:1`)).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(/HTTP 422/) });
    const [h] = await db.db.select().from(salesHandoffs).where(eq(salesHandoffs.contactId, refused));
    expect(h!.status).toBe('pending');
  });

  it('records that no webhook was sent when no CRM URL is configured', async () => {
    const quiet = handoffActivities({ db: db.db, sales: { directory: sales.directory }, tracking: { baseUrl: 'http://x' } } as unknown as ActivityDeps);
    const contactId = await newContact();
    const mark = crm.requests.length;
    const r = await quiet.handoffToSales({ idempotencyKey: `quiet-${contactId}`, contactId, journeyId: 'j', workflowId: 'w', team: 'inside' });
    expect(r).toMatchObject({ ownerId: 'n1', crm: 'skipped' });
    expect(await findMessageByKey(db.db, `quiet-${contactId}`)).toMatchObject({ channel: 'crm', status: 'skipped', error: 'CRM_WEBHOOK_URL is not set', recipient: '(none)' });
    expect(crm.requests.length).toBe(mark);
  });

  describe('notify @-mentions the rep and manager by their chat handle', () => {
    let robot: TestHttp;
    let chat: ReturnType<typeof notifyActivities>;
    beforeAll(async () => {
      robot = await startHttp((_req, res) => json(res, 200, { errcode: 0, errmsg: 'ok' }));
      chat = notifyActivities({
        db: db.db,
        sales,
        text: createTextRenderer(TEMPLATES_DIR),
        chatWebhooks: { wecom: { default: `${robot.url}/send?key=k`, groups: {} }, slack: { default: `${robot.url}/slack`, groups: {} } },
        outbound: localOutbound,
      } as unknown as ActivityDeps);
    });
    afterAll(() => robot?.close());

    it('uses the handle for the channel, the rep name in templates, and the id where no handle exists', async () => {
      const contactId = await newContact({ firstName: '伟', lastName: '王', locale: 'zh-CN' });
      const owner = (await handoff(contactId, { owner: 'a' })).ownerId;
      expect(owner).toBe('a');
      const base = { contactId, journeyId: 'mql-handoff', workflowId: 'w', stepId: 'notify-rep', template: 'mql-assigned' };
      expect(await chat.notify({ ...base, idempotencyKey: 'n-owner', channel: 'wecom', to: 'owner' })).toMatchObject({ status: 'sent' });
      expect(await chat.notify({ ...base, idempotencyKey: 'n-mgr', channel: 'wecom', to: 'manager', template: 'mql-escalation' })).toMatchObject({ status: 'sent' });
      expect(await chat.notify({ ...base, idempotencyKey: 'n-slack', channel: 'slack', to: 'owner' })).toMatchObject({ status: 'sent' });
      expect(await chat.notify({ ...base, idempotencyKey: 'n-user', channel: 'wecom', to: { user: 'c' } })).toMatchObject({ status: 'sent' });
      const [toOwner, toManager, slack, toUser] = robot.requests.map((r) => JSON.parse(r.body) as { text: { content: string; mentioned_list?: string[] } | string });
      expect(toOwner).toMatchObject({ msgtype: 'text', text: { mentioned_list: ['WxLiNa'] } });
      expect((toOwner as { text: { content: string } }).text.content).toMatch(/^李娜有一条新的 MQL：王伟/);
      expect(toManager).toMatchObject({ text: { mentioned_list: ['WxZhouMin'] } });
      expect((toManager as { text: { content: string } }).text.content).toContain('周敏');
      expect((toManager as { text: { content: string } }).text.content).toContain('李娜');
      expect((slack as { text: string }).text).toMatch(/^<@U0A> /);
      // Rep c has no WeCom handle: mentioned by id, as before the directory existed.
      expect(toUser).toMatchObject({ text: { mentioned_list: ['c'] } });
      expect(await findMessageByKey(db.db, 'n-mgr')).toMatchObject({ recipient: 'wecom:manager:mgr.east' });
    });
  });
});
