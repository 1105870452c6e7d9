/**
 * Just enough MIME (RFC 2045/2046, RFC 5322 header folding) to read delivery reports: header blocks, multipart
 * bodies by boundary, and the base64 / quoted-printable transfer encodings. Reports are machine-written, so this is
 * strict where it can afford to be and bounded everywhere: nesting depth, part count and header count are capped, so a
 * hostile message cannot make the parser recurse or allocate without limit. Pure; no I/O.
 */

/** Multipart nesting followed; a report is at most two levels deep (a forwarded report in multipart/mixed). */
export const MAX_MIME_DEPTH = 4;
/** Parts read per message, across every level. */
export const MAX_MIME_PARTS = 64;
/** Header fields read per header block. */
export const MAX_HEADER_FIELDS = 500;

export type Headers = { name: string; value: string }[];

export type MimePart = {
  headers: Headers;
  /** `type/subtype`, lower-cased; `text/plain` when absent (RFC 2045 §5.2). */
  contentType: string;
  params: Record<string, string>;
  /** The body after transfer decoding. */
  body: Buffer;
  /** Sub-parts of a multipart body; empty otherwise. */
  parts: MimePart[];
};

export class MimeError extends Error {
  override name = 'MimeError';
}

/** The header block and the body of a message (or of a part), split at the first empty line. */
export function splitHeaderBlock(raw: Buffer): { head: string; body: Buffer } {
  // Look for CRLFCRLF or LFLF, whichever comes first; a message with no body has only headers.
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  let at = -1;
  let skip = 0;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) [at, skip] = [crlf, 4];
  else if (lf !== -1) [at, skip] = [lf, 2];
  // A block beginning with an empty line has no headers at all.
  if (raw[0] === 0x0a) return { head: '', body: raw.subarray(1) };
  if (raw[0] === 0x0d && raw[1] === 0x0a) return { head: '', body: raw.subarray(2) };
  if (at === -1) return { head: raw.toString('latin1'), body: Buffer.alloc(0) };
  return { head: raw.subarray(0, at).toString('latin1'), body: raw.subarray(at + skip) };
}

/** Unfolded header fields, in order. Lines that are not `name: value` are skipped (a mangled line is not fatal). */
export function parseHeaders(head: string): Headers {
  const out: Headers = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && out.length > 0) {
      out[out.length - 1]!.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    if (out.length >= MAX_HEADER_FIELDS) throw new MimeError(`more than ${MAX_HEADER_FIELDS} header fields in one block`);
    out.push({ name, value: line.slice(colon + 1).trim() });
  }
  // Header values are ASCII, or UTF-8 in the RFC 6532 (message/global) forms: decode the bytes read as latin1 again.
  for (const h of out) h.value = Buffer.from(h.value, 'latin1').toString('utf8');
  return out;
}

export const header = (headers: Headers, name: string): string | undefined => headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

/** `type/subtype; a=b; c="d"` → the lower-cased type and its parameters (names lower-cased). */
export function parseContentType(value: string | undefined): { type: string; params: Record<string, string> } {
  if (!value) return { type: 'text/plain', params: {} };
  const [first = '', ...rest] = splitParams(value);
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params[p.slice(0, eq).trim().toLowerCase()] = v;
  }
  const type = first.trim().toLowerCase();
  return { type: /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : 'text/plain', params };
}

/** Splits at `;` outside quoted strings. */
function splitParams(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && quoted && i + 1 < value.length) {
      cur += c + value[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ';' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function decodeTransfer(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'quoted-printable': {
      const text = body.toString('latin1').replace(/=\r?\n/g, '');
      const bytes: number[] = [];
      for (let i = 0; i < text.length; i++) {
        const hex = text[i] === '=' ? text.slice(i + 1, i + 3) : '';
        if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
          bytes.push(parseInt(hex, 16));
          i += 2;
        } else bytes.push(text.charCodeAt(i) & 0xff);
      }
      return Buffer.from(bytes);
    }
    default:
      return body;
  }
}

/** The parts between `--boundary` lines; the preamble and epilogue are dropped. */
function splitMultipart(body: Buffer, boundary: string): Buffer[] {
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  const parts: Buffer[] = [];
  let start = -1;
  let pos = 0;
  while (pos <= text.length) {
    const at = text.indexOf(delimiter, pos);
    if (at === -1) break;
    // A delimiter is a whole line: at the start of the body or right after a line break.
    const lineStart = at === 0 || text[at - 1] === '\n';
    if (!lineStart) {
      pos = at + delimiter.length;
      continue;
    }
    if (start !== -1) {
      const end = text[at - 2] === '\r' ? at - 2 : at - 1;
      parts.push(body.subarray(start, Math.max(start, end)));
      if (parts.length > MAX_MIME_PARTS) throw new MimeError(`more than ${MAX_MIME_PARTS} MIME parts`);
    }
    const closing = text.startsWith('--', at + delimiter.length);
    if (closing) return parts;
    const eol = text.indexOf('\n', at + delimiter.length);
    if (eol === -1) return parts;
    start = eol + 1;
    pos = start;
  }
  // No closing delimiter: the last part runs to the end (truncated reports are common enough to read).
  if (start !== -1 && start < body.length) parts.push(body.subarray(start));
  return parts;
}

/** Parses a whole message (or a message/rfc822 part's body) into its part tree. */
export function parseMime(raw: Buffer): MimePart {
  const budget = { parts: 0 };
  return parsePart(raw, 0, budget);
}

function parsePart(raw: Buffer, depth: number, budget: { parts: number }): MimePart {
  if (++budget.parts > MAX_MIME_PARTS) throw new MimeError(`more than ${MAX_MIME_PARTS} MIME parts`);
  const { head, body } = splitHeaderBlock(raw);
  const headers = parseHeaders(head);
  const { type, params } = parseContentType(header(headers, 'content-type'));
  if (type.startsWith('multipart/')) {
    const boundary = params.boundary;
    if (!boundary || boundary.length > 200) throw new MimeError(`a ${type} part has no usable boundary`);
    if (depth >= MAX_MIME_DEPTH) throw new MimeError(`MIME parts nested deeper than ${MAX_MIME_DEPTH}`);
    const parts = splitMultipart(body, boundary).map((p) => parsePart(p, depth + 1, budget));
    return { headers, contentType: type, params, body: Buffer.alloc(0), parts };
  }
  return { headers, contentType: type, params, body: decodeTransfer(body, header(headers, 'content-transfer-encoding')), parts: [] };
}

/** Every leaf and multipart node, depth first. */
export function* walk(part: MimePart): Generator<MimePart> {
  yield part;
  for (const p of part.parts) yield* walk(p);
}

/** Header groups separated by empty lines (the body of message/delivery-status). */
export function headerGroups(body: Buffer): Headers[] {
  return body
    .toString('latin1')
    .split(/\r?\n(?:[ \t]*\r?\n)+/)
    .map((g) => g.trim())
    .filter((g) => g.length > 0)
    .map((g) => parseHeaders(g));
}
