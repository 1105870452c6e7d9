import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from '../config';

/**
 * The secrets that sign tracking links and tokens, current first. Production must set SIGNING_SECRET; the embedded
 * default keeps a generated one under DATA_DIR so links sent before a restart still verify after it.
 */
export function resolveSigningSecrets(opts: { config: Config }): string[] {
  return [resolveCurrentSecret(opts.config), ...opts.config.previousSigningSecrets];
}

function resolveCurrentSecret(config: Config): string {
  if (config.signingSecret) return config.signingSecret;
  if (config.nodeEnv === 'production') {
    throw new ConfigError('SIGNING_SECRET is missing: production needs a secret of at least 32 characters.');
  }
  const file = path.join(config.dataDir, 'signing-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
