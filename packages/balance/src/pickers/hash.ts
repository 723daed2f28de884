/**
 * 32-bit string hashing for consistent hashing: FNV-1a over UTF-16 code units, then murmur3's finaliser
 * so that keys differing in one character spread over the whole range. Not cryptographic, and it needs
 * not be: it only has to be fast, stable across processes and well mixed.
 */
export function hash32(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
