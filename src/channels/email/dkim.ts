/**
 * DKIM keys: which key signs a message (the one for its From domain, so DMARC sees an aligned signature), and the
 * start-up check that a configured key can sign at all. The signing itself is nodemailer's (mailer.ts).
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface DkimOptions {
  /** The `d=` domain; the key signs messages whose From address is at this domain. */
  domainName: string;
  /** The `s=` selector: the public key is published at `<selector>._domainkey.<domain>`. */
  keySelector: string;
  /** PEM private key (RSA: nodemailer signs rsa-sha256). */
  privateKey: string;
}

/** A DNS label or dotted labels, as a selector or domain may be (RFC 6376 §3.1, RFC 1035). */
export const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Receivers (Gmail, Yahoo, Outlook) ignore DKIM signatures made with RSA keys under 1024 bits. */
export const MIN_RSA_BITS = 1024;

/** Why this PEM text cannot sign DKIM, as the end of a sentence starting with the setting's name; undefined if it can. */
export function dkimKeyProblem(pem: string): string | undefined {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return 'is not a readable PEM private key (an unencrypted "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----" block)';
  }
  if (key.asymmetricKeyType !== 'rsa') return `is a ${key.asymmetricKeyType ?? 'non-RSA'} key: DKIM signing here needs an RSA key (2048 bits recommended)`;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `is a ${bits}-bit RSA key: receivers ignore DKIM signatures from keys under ${MIN_RSA_BITS} bits (use 2048)`;
  try {
    const probe = Buffer.from('itinera DKIM start-up check');
    const signature = sign('sha256', probe, key);
    if (!verify('sha256', probe, createPublicKey(key), signature)) return 'cannot sign: its test signature does not verify';
  } catch (err) {
    return `cannot sign: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

/** The key for a From domain (exact, case-insensitive match), if one is configured. */
export function dkimKeyFor(keys: readonly DkimOptions[], fromDomain: string | undefined): DkimOptions | undefined {
  if (!fromDomain) return undefined;
  const d = fromDomain.toLowerCase();
  return keys.find((k) => k.domainName.toLowerCase() === d);
}
