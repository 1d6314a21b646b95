import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

// The per-request id generator. The `uuid` package's `v7()` lays the bits out; what this module
// adds is where its inputs come from. Called bare, `v7()` allocates two typed arrays per id (a
// 16-byte slice of a 256-byte random pool, and the id's bytes), draws a fresh random fill every
// 16 ids and lower-cases its string: measured on a Fastify server, that was most of what request
// ids cost per request. Here the random bytes come from a 4 KiB pool refilled by
// `crypto.randomFillSync` every few hundred ids, `v7()` writes into one reused buffer, and the
// string is written from a lower-case hex table. Ids keep `v7()`'s monotonic order: the millisecond
// timestamp, then a 32-bit sequence seeded with random bits at each new millisecond and
// incremented within one (RFC 9562 §6.2, method 3), exactly as `v7()` keeps it.

const POOL_SIZE = 4096;
// At most 10 pool bytes per id: 4 to seed the sequence at a new millisecond, 6 for v7()'s tail.
const RANDOM_BYTES_USED = 10;

const pool = new Uint8Array(POOL_SIZE);
let poolAt = POOL_SIZE;
const random = new Uint8Array(16);
const bytes = new Uint8Array(16);
// v7()'s options, reused: `random`, then the timestamp and sequence kept here.
const input = { random, msecs: Number.NEGATIVE_INFINITY, seq: 0 };
// The millisecond whose 12 hex digits `text` holds.
let written = Number.NaN;

// The id is written as ASCII into one reused buffer and read out as a flat string: joining 20
// pieces would leave a rope that every later use (header, log line) has to flatten first.
const text = Buffer.alloc(36, '-');
// Each byte's two hex digits as character codes, low byte first.
const hexCodes = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  const pair = (i + 0x100).toString(16).slice(1);
  hexCodes[i] = pair.charCodeAt(0) | (pair.charCodeAt(1) << 8);
}
// Writes one byte's two hex digits at `at` (inlined where it is called with constant offsets,
// so the 8-4-4-4-12 layout costs no table lookups).
function put(at: number, byte: number): void {
  const pair = hexCodes[byte]!;
  text[at] = pair & 0xff;
  text[at + 1] = pair >> 8;
}

// `latin1Slice` is what `toString('latin1', …)` ends in, without its argument handling.
const latin1 = (text as Buffer & { latin1Slice?: (start: number, end: number) => string })
  .latin1Slice;
const readText: () => string =
  typeof latin1 === 'function'
    ? () => latin1.call(text, 0, 36)
    : () => text.toString('latin1', 0, 36);

/** A fresh UUID v7, lower case, time-ordered within and across milliseconds. */
export function uuidV7(): string {
  if (poolAt > POOL_SIZE - RANDOM_BYTES_USED) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const now = Date.now();
  if (now > input.msecs) {
    // A new millisecond: the sequence starts from 31 random bits, as `v7()` seeds it.
    input.seq =
      (pool[poolAt]! << 23) |
      (pool[poolAt + 1]! << 16) |
      (pool[poolAt + 2]! << 8) |
      pool[poolAt + 3]!;
    poolAt += 4;
    input.msecs = now;
  } else {
    input.seq = (input.seq + 1) | 0;
    if (input.seq === 0) input.msecs++;
  }
  // With the sequence given, `v7()` reads only bytes 10–15 of `random`.
  for (let i = 10; i < 16; i++) random[i] = pool[poolAt++]!;
  v7(input, bytes, 0);
  // Bytes 0–5 are the timestamp: their digits change once per millisecond.
  if (input.msecs !== written) {
    written = input.msecs;
    put(0, bytes[0]!);
    put(2, bytes[1]!);
    put(4, bytes[2]!);
    put(6, bytes[3]!);
    put(9, bytes[4]!);
    put(11, bytes[5]!);
  }
  put(14, bytes[6]!);
  put(16, bytes[7]!);
  put(19, bytes[8]!);
  put(21, bytes[9]!);
  put(24, bytes[10]!);
  put(26, bytes[11]!);
  put(28, bytes[12]!);
  put(30, bytes[13]!);
  put(32, bytes[14]!);
  put(34, bytes[15]!);
  return readText();
}
