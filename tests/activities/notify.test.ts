import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyActivities } from '../../src/activities/notify';
import type { ActivityDeps } from '../../src/activities/deps';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { createTextRenderer } from '../../src/templates/text';
import { TEMPLATES_DIR } from '../../src/paths';
import { createTestDatabase } from '../helpers/db';
import { localOutbound } from '../helpers/outbound';

/** A WeCom group robot: answers HTTP 200 with errcode, as the real one does. */
async function startWeComRobot() {
  const received: { path: string; body: { msgtype: string; text?: { content: string; mentioned_list?: string[] }; markdown?: { content: string } } }[] = [];
  let nextErrcode = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(raw) });
      const errcode = nextErrcode;
      nextErrcode = 0;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ errcode, errmsg: errcode ? 'error' : 'ok' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { base, received, failNext: (code: number) => (nextErrcode = code), close: () => new Promise((r) => server.close(r)) };
}

describe('notify activity (chat robots)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let robot: Awaited<ReturnType<typeof startWeComRobot>>;
  let acts: ReturnType<typeof notifyActivities>;
  let contactId: string;
  const input = (key: string, to: Parameters<typeof acts.notify>[0]['to']) => ({
    idempotencyKey: key,
    contactId,
    journeyId: 'mql-handoff',
    workflowId: 'w',
    stepId: 'notify-rep',
    channel: 'wecom' as const,
    to,
    template: 'mql-assigned',
  });

  beforeAll(async () => {
    [db, robot] = await Promise.all([createTestDatabase(), startWeComRobot()]);
    const deps = {
      db: db.db,
      text: createTextRenderer(TEMPLATES_DIR),
      chatWebhooks: { wecom: { default: `${robot.base}/send?key=default`, groups: { 'sales-east': `${robot.base}/send?key=east` } } },
      outbound: localOutbound,
    } as unknown as ActivityDeps;
    acts = notifyActivities(deps);
    contactId = (await upsertContactByExternalId(db.db, { externalId: 'n1', firstName: '伟', lastName: '王', company: '华东精工', ownerId: 'zhangsan', locale: 'zh-CN' })).id;
  });
  afterAll(async () => {
    await robot.close();
    await db.drop();
  });

  it('mentions the owner through the default robot, once per key', async () => {
    expect(await acts.notify(input('n-1', 'owner'))).toEqual({ status: 'sent', duplicate: false });
    expect(await acts.notify(input('n-1', 'owner'))).toMatchObject({ status: 'sent', duplicate: true });
    expect(robot.received).toHaveLength(1);
    expect(robot.received[0]!.path).toBe('/send?key=default');
    expect(robot.received[0]!.body.text?.mentioned_list).toEqual(['zhangsan']);
    expect(robot.received[0]!.body.text?.content).toContain('华东精工');
  });

  it('routes a group target to its robot', async () => {
    await acts.notify(input('n-2', { group: 'sales-east' }));
    expect(robot.received.at(-1)!.path).toBe('/send?key=east');
  });

  it('keeps the message in the outbox when the channel has no robot', async () => {
    expect(await acts.notify({ ...input('n-3', 'manager'), channel: 'slack' })).toMatchObject({ status: 'stored' });
    expect(await findMessageByKey(db.db, 'n-3')).toMatchObject({ channel: 'chat', provider: 'outbox', status: 'stored' });
  });

  it('fails permanently on a parameter error and retries a rate limit', async () => {
    robot.failNext(93000);
    expect(await acts.notify(input('n-4', 'owner'))).toMatchObject({ status: 'failed' });
    robot.failNext(45009);
    await expect(acts.notify(input('n-5', 'owner'))).rejects.toThrow();
    expect(await acts.notify(input('n-5', 'owner'))).toMatchObject({ status: 'sent' });
  });
});
