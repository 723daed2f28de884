import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '@meshkit/core';
import fc from 'fast-check';
import { FrameDecoder, frame } from './framing.ts';
import { readMetadata, writeContextMetadata, writeMetadata } from './metadata.ts';
import { decodeGrpcMessage, encodeGrpcMessage, parseStatus, Status, statusName } from './status.ts';
import { encodeGrpcTimeout, parseGrpcTimeout } from './timeout.ts';

describe('framing', () => {
  it('splits messages across any chunking of the stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 20 }),
        (messages, cuts) => {
          const wire = Buffer.concat(messages.map(frame));
          const decoder = new FrameDecoder(1024);
          const out: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < wire.length; i++) {
            const size = cuts[i % cuts.length]!;
            const got = decoder.push(wire.subarray(offset, offset + size));
            assert.ok(Array.isArray(got));
            out.push(...got);
            offset += size;
          }
          assert.deepEqual(
            out.map((m) => Buffer.from(m)),
            messages.map((m) => Buffer.from(m)),
          );
          assert.equal(decoder.pendingBytes, 0);
        },
      ),
    );
  });

  it('refuses a message over the limit from its prefix alone, and a compressed one', () => {
    const decoder = new FrameDecoder(10);
    assert.equal(decoder.push(Buffer.from([0, 0, 0, 0, 11])), 'too-large');
    assert.equal(new FrameDecoder(10).push(Buffer.from([1, 0, 0, 0, 1, 7])), 'compressed');
  });

  it('keeps a truncated message pending', () => {
    const decoder = new FrameDecoder(10);
    assert.deepEqual(decoder.push(Buffer.from([0, 0, 0, 0, 3, 1])), []);
    assert.equal(decoder.pendingBytes, 6);
  });
});

describe('grpc-timeout', () => {
  it('parses every unit and refuses malformed values', () => {
    assert.equal(parseGrpcTimeout('1H'), 3_600_000);
    assert.equal(parseGrpcTimeout('2M'), 120_000);
    assert.equal(parseGrpcTimeout('3S'), 3_000);
    assert.equal(parseGrpcTimeout('250m'), 250);
    assert.equal(parseGrpcTimeout('1500u'), 1.5);
    assert.equal(parseGrpcTimeout('2000000n'), 2);
    for (const bad of ['', '5', 'm', '123456789m', '-1m', '1.5S', '10x']) {
      assert.equal(parseGrpcTimeout(bad), undefined, bad);
    }
  });

  it('encodes within 8 digits, never below what is left', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e13, noNaN: true }), (ms) => {
        const encoded = encodeGrpcTimeout(ms);
        assert.match(encoded, /^\d{1,8}[HMSm]$/);
        assert.ok(parseGrpcTimeout(encoded)! >= Math.min(ms, 99_999_999 * 3_600_000));
      }),
    );
    assert.equal(encodeGrpcTimeout(0), '1m');
  });
});

describe('status', () => {
  it('percent-encodes grpc-message and decodes it back', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const encoded = encodeGrpcMessage(text);
        assert.match(encoded, /^[\x20-\x7e]*$/);
        assert.equal(decodeGrpcMessage(encoded), text);
      }),
    );
    assert.equal(encodeGrpcMessage('100% sûr\n'), '100%25 s%C3%BBr%0A');
    assert.equal(decodeGrpcMessage('bad %zz escape'), 'bad %zz escape');
  });

  it('reads a status, treating anything outside 0..16 as UNKNOWN', () => {
    assert.equal(parseStatus('5'), Status.NOT_FOUND);
    assert.equal(parseStatus('17'), Status.UNKNOWN);
    assert.equal(parseStatus('x'), Status.UNKNOWN);
    assert.equal(parseStatus(undefined), Status.UNKNOWN);
    assert.equal(statusName(14), 'UNAVAILABLE');
    assert.equal(statusName(99), 'CODE_99');
  });
});

describe('metadata', () => {
  it('writes text, repeated and -bin values, and reads them back', () => {
    const headers: Record<string, string | string[]> = {};
    writeMetadata(headers, { 'x-a': 'one', 'x-b': ['1', '2'], 'x-c-bin': Buffer.from([0, 255]) }, 'metadata');
    assert.deepEqual(headers, { 'x-a': 'one', 'x-b': ['1', '2'], 'x-c-bin': 'AP8=' });
    const read = readMetadata({
      ':status': '200',
      'content-type': 'application/grpc',
      'x-a': 'one',
      'x-c-bin': 'AP8',
      'x-d-bin': 'AQ==, Ag',
    });
    assert.deepEqual(read, {
      'x-a': 'one',
      'x-c-bin': Buffer.from([0, 255]),
      'x-d-bin': [Buffer.from([1]), Buffer.from([2])],
    });
  });

  it('propagates context metadata, skipping what gRPC cannot carry instead of failing', () => {
    const headers: Record<string, string | string[]> = {};
    writeContextMetadata(headers, {
      traceparent: '00-abc-def-01',
      'x-request-id': 'r1',
      'X-Upper': 'kept lower-cased',
      'x-meshkit-timeout-ms': '100',
      'grpc-timeout': '1S',
      te: 'gzip',
      'x-accent': 'é',
      'x-trace-bin': Buffer.from([1]),
      'x-list': ['a', 'b'],
    });
    assert.deepEqual(headers, {
      traceparent: '00-abc-def-01',
      'x-request-id': 'r1',
      'x-upper': 'kept lower-cased',
      'x-meshkit-timeout-ms': '100',
      'x-trace-bin': 'AQ==',
      'x-list': ['a', 'b'],
    });
  });

  it('refuses reserved keys, upper case, and non-ASCII text naming the key', () => {
    const bad: Record<string, string>[] = [
      { 'grpc-timeout': '1S' },
      { 'X-Up': 'a' },
      { te: 'x' },
      { 'x-text': 'é' },
    ];
    for (const metadata of bad) {
      assert.throws(() => writeMetadata({}, metadata, 'metadata'), InvalidArgumentError);
    }
    assert.throws(() => writeMetadata({}, { 'x-text': 'é' }, 'metadata'), /metadata\.x-text/);
    writeMetadata({}, { 'grpc-retry-pushback-ms': '10' }, 'metadata');
  });
});
