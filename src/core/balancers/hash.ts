/**
 * 32-bit FNV-1a over UTF-16 code units, finished with murmur3's fmix32 so that similar keys
 * (`10.0.0.1`, `10.0.0.2`) land far apart. Allocation-free; stable across processes and versions,
 * so every proxy maps a key to the same endpoint.
 */
export function hashString(input: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) {
    hash ^= input.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
