import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Where the kernel picks the local ports of outgoing connections (and of `listen(0)`). */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low && low > 2_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/**
 * A port that is free now, ours to bind — and to bind again after a restart. It is taken below the kernel's ephemeral
 * range: a port from that range, released while a server is down, can meanwhile become the local port of any outgoing
 * connection on the machine, and the restart then fails with EADDRINUSE (seen in a chaos run beside other suites).
 */
export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  const bottom = Math.max(1_024, top - 12_000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - 1_000 - bottom));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port between ${bottom} and ${top - 1_000}`);
}
