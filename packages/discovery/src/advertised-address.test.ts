import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';
import { advertisedAddress } from './advertised-address.ts';

const nic = (address: string, family: 'IPv4' | 'IPv6', internal: boolean) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as NetworkInterfaceInfo;

describe('advertisedAddress', () => {
  it('keeps a concrete host', () => {
    assert.equal(advertisedAddress('127.0.0.1'), '127.0.0.1');
    assert.equal(advertisedAddress('10.1.2.3'), '10.1.2.3');
  });

  it('turns 0.0.0.0 and :: into the first non-internal IPv4 address, else loopback', () => {
    const interfaces = () => ({
      lo: [nic('127.0.0.1', 'IPv4', true)],
      eth0: [nic('fe80::1', 'IPv6', false), nic('10.0.3.7', 'IPv4', false)],
      eth1: [nic('192.168.1.5', 'IPv4', false)],
    });
    assert.equal(advertisedAddress('0.0.0.0', interfaces), '10.0.3.7');
    assert.equal(advertisedAddress('::', interfaces), '10.0.3.7');
    assert.equal(
      advertisedAddress('0.0.0.0', () => ({ lo: [nic('127.0.0.1', 'IPv4', true)] })),
      '127.0.0.1',
    );
  });
});
