import { createServer, type Server } from 'node:http';
import { verifyWebhook } from '../../../src/channels/webhooks';
import { freePort } from './proc';

export type ChaosReceiver = {
  url: string;
  /** Applied deliveries by `webhook-id` (first arrival answered 2xx; later ones are recognised and not applied). */
  applied: Map<string, { contact: string }>;
  stats: { raw: number; answered5xx: number; redeliveries: number; badSignature: number };
  /** While true every request is answered 503 (and not applied). */
  failing: boolean;
  close(): Promise<void>;
};

/** A Standard Webhooks receiver that verifies signatures, applies each `webhook-id` once and counts raw arrivals. */
export async function startChaosReceiver(secrets: readonly string[]): Promise<ChaosReceiver> {
  const port = await freePort();
  const applied = new Map<string, { contact: string }>();
  const stats = { raw: 0, answered5xx: 0, redeliveries: 0, badSignature: 0 };
  const receiver: ChaosReceiver = { url: `http://127.0.0.1:${port}`, applied, stats, failing: false, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    // A sender killed mid-request resets the socket; the request is simply not applied (it will be retried).
    req.on('error', () => undefined);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      stats.raw++;
      if (receiver.failing) {
        stats.answered5xx++;
        res.writeHead(503).end('chaos: unavailable');
        return;
      }
      const body = Buffer.concat(chunks);
      const verified = verifyWebhook(req.headers, body, secrets);
      if (!verified.ok) {
        stats.badSignature++;
        res.writeHead(400).end(verified.reason);
        return;
      }
      if (applied.has(verified.id)) {
        stats.redeliveries++;
      } else {
        const { contact } = JSON.parse(body.toString('utf8')) as { contact: string };
        applied.set(verified.id, { contact });
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}
