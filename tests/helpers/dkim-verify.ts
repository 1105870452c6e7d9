import { createHash, createPublicKey, verify } from 'node:crypto';

/**
 * A DKIM verifier written from RFC 6376 for tests, independent of nodemailer's signer: rsa-sha256 with relaxed/relaxed
 * canonicalization (what the mailer asks for), the public key looked up as the DNS TXT record
 * `<s>._domainkey.<d>` through `dns` (tests/helpers/dns-txt.ts serves one over real DNS). Anything it does not handle (other algorithms or canonicalizations, `l=`) is a
 * failure, never a pass.
 */
export type DkimVerification =
  | { ok: true; domain: string; selector: string; signedHeaders: string[] }
  | { ok: false; reason: string };

type Field = { name: string; value: string };

/** The TXT record a test publishes for a public key: `v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>`. */
export function dkimTxtRecord(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

function tagList(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) {
      if (part.trim() !== '') throw new Error(`bad tag "${part.trim()}"`);
      continue;
    }
    tags.set(part.slice(0, eq).replace(/[ \t\r\n]+/g, ''), part.slice(eq + 1).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, ''));
  }
  return tags;
}

const relaxedHeader = (f: Field) => `${f.name.trim().toLowerCase()}:${f.value.replace(/\r\n/g, '').replace(/[ \t]+/g, ' ').trim()}`;

function relaxedBody(body: string): string {
  const lines = body.split('\r\n').map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  return lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`;
}

export async function verifyDkim(raw: string, dns: (name: string) => Promise<string | undefined> | string | undefined): Promise<DkimVerification> {
  if (/(^|[^\r])\n/.test(raw)) return { ok: false, reason: 'bare LF line endings' };
  const split = raw.indexOf('\r\n\r\n');
  if (split === -1) return { ok: false, reason: 'no header/body separator' };
  const fields: Field[] = [];
  for (const line of raw.slice(0, split).split('\r\n')) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields.at(-1)!.value += `\r\n${line}`;
    else if (line.includes(':')) fields.push({ name: line.slice(0, line.indexOf(':')), value: line.slice(line.indexOf(':') + 1) });
    else return { ok: false, reason: `malformed header line "${line}"` };
  }
  const sigField = fields.find((f) => f.name.trim().toLowerCase() === 'dkim-signature');
  if (!sigField) return { ok: false, reason: 'no DKIM-Signature' };
  let tags: Map<string, string>;
  try {
    tags = tagList(sigField.value);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const tag = (n: string) => tags.get(n);
  if (tag('v') !== '1') return { ok: false, reason: `v=${tag('v')}` };
  if (tag('a') !== 'rsa-sha256') return { ok: false, reason: `unsupported a=${tag('a')}` };
  if (tag('c') !== 'relaxed/relaxed') return { ok: false, reason: `unsupported c=${tag('c')}` };
  if (tags.has('l')) return { ok: false, reason: 'l= (partial body) is not accepted' };
  const d = tag('d');
  const s = tag('s');
  const h = tag('h');
  const bh = tag('bh')?.replace(/[ \t\r\n]+/g, '');
  const b = tag('b')?.replace(/[ \t\r\n]+/g, '');
  if (!d || !s || !h || !bh || !b) return { ok: false, reason: 'missing d, s, h, bh or b' };
  const signedHeaders = h.split(':').map((n) => n.replace(/[ \t\r\n]+/g, '').toLowerCase());
  if (!signedHeaders.includes('from')) return { ok: false, reason: 'From is not signed' };

  if (createHash('sha256').update(relaxedBody(raw.slice(split + 4))).digest('base64') !== bh) return { ok: false, reason: 'body hash mismatch' };

  // Each name takes the last instance not yet used (RFC 6376 §5.4.2); a name with no instance left adds nothing.
  const used = new Set<Field>();
  let data = '';
  for (const name of signedHeaders) {
    const instance = fields.findLast((f) => f !== sigField && !used.has(f) && f.name.trim().toLowerCase() === name);
    if (!instance) continue;
    used.add(instance);
    data += `${relaxedHeader(instance)}\r\n`;
  }
  // The signature's own field, its b= value emptied, without a trailing CRLF (§3.7).
  data += relaxedHeader({ name: sigField.name, value: sigField.value.replace(/(^|;)([ \t\r\n]*b[ \t\r\n]*=)[^;]*/, '$1$2') });

  const record = await dns(`${s}._domainkey.${d}`);
  if (record === undefined) return { ok: false, reason: `no TXT record at ${s}._domainkey.${d}` };
  const key = tagList(record);
  if ((key.get('v') ?? 'DKIM1') !== 'DKIM1' || (key.get('k') ?? 'rsa') !== 'rsa') return { ok: false, reason: 'TXT record is not an RSA DKIM1 key' };
  const p = key.get('p')?.replace(/[ \t\r\n]+/g, '');
  if (!p) return { ok: false, reason: 'key revoked (empty p=)' };
  const publicKey = createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' });
  if (!verify('sha256', Buffer.from(data), publicKey, Buffer.from(b, 'base64'))) return { ok: false, reason: 'signature mismatch' };
  return { ok: true, domain: d, selector: s, signedHeaders };
}
