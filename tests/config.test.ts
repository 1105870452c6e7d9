import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';

describe('loadConfig', () => {
  it('has defaults that run the embedded stack', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.temporal.address).toBeUndefined();
    expect(c.temporal.taskQueue).toBe('itinera');
    expect(c.publicBaseUrl).toBe('http://localhost:3000');
    expect(c.dataDir).toBe('.data');
  });

  it('reads and converts values', () => {
    const c = loadConfig({ PORT: '8080', TEMPORAL_ADDRESS: 'temporal:7233', DATABASE_URL: 'postgres://u:p@db/x', SMTP_POOL_SIZE: '3' });
    expect(c.port).toBe(8080);
    expect(c.temporal.address).toBe('temporal:7233');
    expect(c.smtp.poolSize).toBe(3);
    expect(c.publicBaseUrl).toBe('http://localhost:8080');
  });

  it('reads the proxy trust and the per-address limits', () => {
    const d = loadConfig({});
    expect(d.trustProxy).toBe(false);
    expect(d.addressLimits).toEqual({ unauthenticatedPerMinute: 60, publicPerMinute: 3000, maxAddresses: 100_000 });
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,192.168.0.0/255.255.0.0, fd00::/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8', '192.168.0.0/255.255.0.0', 'fd00::/8']);
    expect(loadConfig({ RATE_LIMIT_PUBLIC_PER_MINUTE: '12000' }).addressLimits.publicPerMinute).toBe(12000);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY has "10.0.0.0\/33", which is not/);
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY has "proxy.internal"/);
    expect(() => loadConfig({ RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '0' })).toThrow(/RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE/);
  });

  it('reads the console session lifetime in minutes, bounded', () => {
    expect(loadConfig({}).consoleSessionMs).toBe(8 * 3600_000);
    expect(loadConfig({ CONSOLE_SESSION_MINUTES: '60' }).consoleSessionMs).toBe(3600_000);
    expect(() => loadConfig({ CONSOLE_SESSION_MINUTES: '2' })).toThrow(/CONSOLE_SESSION_MINUTES/);
    expect(() => loadConfig({ CONSOLE_SESSION_MINUTES: '20000' })).toThrow(/CONSOLE_SESSION_MINUTES/);
    expect(() => loadConfig({ CONSOLE_SESSION_MINUTES: 'eight hours' })).toThrow(/CONSOLE_SESSION_MINUTES/);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', TEMPORAL_ADDRESS: ' ' }).databaseUrl).toBeUndefined();
  });

  it('stops with a sentence naming each bad variable and never echoing secrets', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', TEMPORAL_ADDRESS: 'no-port', DATABASE_URL: 'mysql://root:hunter2@x/db', SIGNING_SECRET: 'short' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/PORT is "abc"/);
    expect(message).toMatch(/TEMPORAL_ADDRESS is "no-port": must be host:port/);
    expect(message).toMatch(/DATABASE_URL is \(hidden\): must start with postgres:\/\//);
    expect(message).toMatch(/SIGNING_SECRET .*at least 32 characters/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('short"');
  });
});
