import { describe, expect, it } from 'vitest';
import {
  addressAllowed,
  blockedReason,
  embeddedIPv4,
  formatIp,
  hostAllowed,
  literalHostProblem,
  parseIp,
  parseIPv6,
  parseOutboundAllow,
} from '../../src/net/addresses';

const ip = (s: string) => {
  const r = parseIp(s);
  if (!r) throw new Error(`not an address: ${s}`);
  return r;
};

describe('parsing and formatting addresses', () => {
  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::ffff:127.0.0.1', '::ffff:7f00:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['[::1]', '::1'],
  ])('%s → %s', (input, shown) => {
    expect(formatIp(ip(input))).toBe(shown);
  });

  it.each(['1:2:3:4:5:6:7:8:9', '1::2::3', ':::1', '12345::', 'g::1', '::1.2.3', '::256.0.0.1', '', '1.2.3', '1.2.3.256', '01.2.3.4.5', 'localhost'])(
    'refuses %j',
    (input) => {
      expect(parseIp(input)).toBeUndefined();
    },
  );

  it('finds the IPv4 address inside mapped, NAT64, 6to4 and compatible forms', () => {
    expect(embeddedIPv4(ip('::ffff:10.1.2.3'))?.form).toBe('IPv4-mapped');
    expect(formatIp(embeddedIPv4(ip('64:ff9b::10.1.2.3'))!.v4)).toBe('10.1.2.3');
    expect(formatIp(embeddedIPv4(ip('2002:0a01:0203::'))!.v4)).toBe('10.1.2.3');
    expect(embeddedIPv4(ip('2606:4700::1'))).toBeUndefined();
    expect(parseIPv6('::ffff:1.2.3.4')).toHaveLength(16);
  });
});

describe('blockedReason', () => {
  it('names the range', () => {
    expect(blockedReason(ip('172.20.1.1'))).toBe('private (172.16.0.0/12)');
    expect(blockedReason(ip('172.32.0.1'))).toBeUndefined();
    expect(blockedReason(ip('100.63.255.255'))).toBeUndefined();
    expect(blockedReason(ip('100.128.0.0'))).toBeUndefined();
    expect(blockedReason(ip('::ffff:192.168.0.1'))).toBe('IPv4-mapped IPv6 for 192.168.0.1, private (192.168.0.0/16)');
    expect(blockedReason(ip('2002:a9fe:a9fe::1'))).toMatch(/^6to4 IPv6 for 169\.254\.169\.254, link-local/);
  });
});

describe('OUTBOUND_ALLOW', () => {
  it('reads addresses, ranges and names, and says which entries it cannot', () => {
    const { allow, errors } = parseOutboundAllow(' 127.0.0.1 ,10.0.0.0/8,, fd00::/8, CRM.Internal., 1.2.3.4/33, a/b/c, -bad-, 1.2.3 ');
    expect(errors).toEqual([
      '"1.2.3.4/33" has a prefix length that is not 0-32',
      '"a/b/c" is neither an IP address, a CIDR range (10.0.0.0/8) nor a host name',
      '"-bad-" is neither an IP address, a CIDR range (10.0.0.0/8) nor a host name',
      '"1.2.3" is neither an IP address, a CIDR range (10.0.0.0/8) nor a host name',
    ]);
    expect(allow.hosts).toEqual(['crm.internal']);
    expect(addressAllowed(allow, ip('10.200.0.1'))).toBe(true);
    expect(addressAllowed(allow, ip('11.0.0.1'))).toBe(false);
    expect(addressAllowed(allow, ip('fd12::1'))).toBe(true);
    expect(addressAllowed(allow, ip('fc00::1'))).toBe(false);
    expect(addressAllowed(allow, ip('127.0.0.2'))).toBe(false);
    // A mapped address is its IPv4 address; NAT64 is a different host (the translator).
    expect(addressAllowed(allow, ip('::ffff:127.0.0.1'))).toBe(true);
    expect(addressAllowed(allow, ip('64:ff9b::7f00:1'))).toBe(false);
    expect(hostAllowed(allow, 'crm.internal.')).toBe(true);
    expect(hostAllowed(allow, 'x.crm.internal')).toBe(false);
  });

  it('literalHostProblem judges URL hosts without DNS', () => {
    const { allow } = parseOutboundAllow('10.0.0.0/8, crm.internal');
    expect(literalHostProblem('10.1.1.1', allow)).toBeUndefined();
    expect(literalHostProblem('192.168.1.1', allow)).toBe('192.168.1.1 is private (192.168.0.0/16)');
    expect(literalHostProblem('crm.internal', allow)).toBeUndefined();
    expect(literalHostProblem('example.com')).toBeUndefined();
    expect(literalHostProblem('LocalHost')).toBe('LocalHost is a loopback name');
    expect(literalHostProblem(new URL('http://[0::1]/').hostname)).toBe('[::1] is loopback (::1)');
  });
});
