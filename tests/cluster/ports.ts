import { createServer } from 'node:net';
import { allClusterPorts } from '../../src/temporal/cluster';
import { freePort } from '../helpers/ports';

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A frontend port whose fixed offsets (clusterPorts: history, matching, worker, HTTP, membership) are free too. */
export async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort();
    if (base < 2000) continue;
    const free = await Promise.all(allClusterPorts(base).filter((p) => p !== base).map(bindable));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free block of ports for the Temporal cluster');
}
