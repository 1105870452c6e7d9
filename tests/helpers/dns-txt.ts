import { createPublicKey } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';

/** The TXT record a domain publishes at `<selector>._domainkey.<domain>` for an RSA public key (RFC 6376 §3.6.1). */
export function dkimTxtRecord(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

/**
 * A DNS server on loopback (UDP) answering TXT queries from `records` (name → text, split into 255-byte strings as
 * DNS requires), NXDOMAIN for other names: what a test publishes as `<selector>._domainkey.<domain>`, read back through
 * node's real resolver.
 */
export async function startTxtServer(records: ReadonlyMap<string, string>) {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 17) return;
    let at = 12;
    const labels: string[] = [];
    while (at < query.length && query[at]! > 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString('ascii'));
      at += 1 + query[at]!;
    }
    const qtype = query.readUInt16BE(at + 1);
    const questionEnd = at + 5;
    const text = records.get(labels.join('.').toLowerCase());
    const answers: Buffer[] = [];
    if (text !== undefined && qtype === 16) {
      const bytes = Buffer.from(text, 'utf8');
      const strings: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 255) {
        const chunk = bytes.subarray(i, i + 255);
        strings.push(Buffer.from([chunk.length]), chunk);
      }
      const rdata = Buffer.concat(strings);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(16, 2); // TXT
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdata.length, 10);
      answers.push(rr, rdata);
    }
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (query.readUInt16BE(2) & 0x0100) | (text === undefined ? 3 : 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length / 2, 6);
    socket.send(Buffer.concat([header, query.subarray(12, questionEnd), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const server = `127.0.0.1:${socket.address().port}`;
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([server]);
  return {
    server,
    /**
     * A DNS resolver in the shape verifier libraries take (`(name, rrtype) => string[][]`, mailauth's `resolver`):
     * node's real resolver asking this server; its ENOTFOUND for names without a record reaches the caller as DNS
     * would report it.
     */
    resolve: (name: string, rrtype: string): Promise<string[][]> => {
      if (rrtype !== 'TXT') return Promise.reject(Object.assign(new Error(`queryTxt ENODATA ${name}`), { code: 'ENODATA' }));
      return resolver.resolveTxt(name);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
