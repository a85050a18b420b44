import { BaseBalancer, randomAcceptableIndex, randomIndex, scanIndex } from './base.ts';
import { hashString } from './hash.ts';
import type { Balancer, BalancerOptions, Endpoint } from './types.ts';

const DEFAULT_VIRTUAL_NODES = 160;
/** Ring points are packed as hash × INDEX_SPAN + endpoint index: exact in a double up to 2^53. */
const INDEX_SPAN = 2 ** 21;

/**
 * Consistent hashing on a key (client address or a header value) with a ring of virtual nodes.
 *
 * A ring rather than a Maglev table because it moves keys minimally by construction: a new endpoint
 * only takes keys from others' ranges and a removed one only hands its own keys on; no key moves
 * between two endpoints that stay. Points depend only on the endpoint id, so every proxy agrees.
 * Each endpoint gets `virtualNodes` × weight / (largest weight) points (at least one); with equal
 * weights that count never changes as endpoints come and go. A pick is a binary search.
 *
 * An ejected or excluded owner hands the key to the next acceptable endpoint clockwise, so only its
 * keys move while it is out. Without a key the pick is random.
 */
class IpHashBalancer<E extends Endpoint> extends BaseBalancer<E> {
  readonly kind = 'ip-hash';
  private readonly virtualNodes: number;
  private hashes = new Uint32Array(0);
  private owners = new Int32Array(0);

  constructor(options: BalancerOptions) {
    super(options);
    this.virtualNodes = options.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
  }

  protected rebuild(): void {
    const list = this.eligible;
    if (list.length >= INDEX_SPAN)
      throw new RangeError(`ip-hash supports at most ${INDEX_SPAN - 1} endpoints`);
    let maxWeight = 0;
    for (const endpoint of list) maxWeight = Math.max(maxWeight, endpoint.weight);
    const counts = list.map((endpoint) =>
      Math.max(1, Math.round((this.virtualNodes * endpoint.weight) / maxWeight)),
    );
    const packed = new Float64Array(counts.reduce((sum, count) => sum + count, 0));
    let k = 0;
    for (let i = 0; i < list.length; i++) {
      const id = list[i].id;
      for (let v = 0; v < counts[i]; v++) packed[k++] = hashString(`${id}#${v}`) * INDEX_SPAN + i;
    }
    packed.sort();
    this.hashes = new Uint32Array(packed.length);
    this.owners = new Int32Array(packed.length);
    for (let p = 0; p < packed.length; p++) {
      const owner = packed[p] % INDEX_SPAN;
      this.owners[p] = owner;
      this.hashes[p] = (packed[p] - owner) / INDEX_SPAN;
    }
  }

  pick(hashKey?: string, exclude?: E): E | undefined {
    const list = this.eligible;
    const n = list.length;
    if (n === 0) return undefined;
    if (hashKey === undefined) {
      const index = randomIndex(this.random, n);
      if (this.acceptable(list[index], exclude)) return list[index];
      return list[randomAcceptableIndex(list, exclude, this.clock, this.random)];
    }
    const start = this.locate(hashString(hashKey));
    const owner = list[this.owners[start]];
    if (this.acceptable(owner, exclude)) return owner;
    const fallback = list[scanIndex(list, this.owners[start] + 1, exclude, this.clock)];
    if (fallback === exclude) return fallback;
    // Walk clockwise: to the next acceptable endpoint, or in panic (all ejected) to the next one that is
    // not excluded, so keys stay consistent even then.
    const panic = !this.acceptable(fallback, exclude);
    const points = this.owners.length;
    let p = start;
    for (let k = 0; k < points; k++) {
      const candidate = list[this.owners[p]];
      if (panic ? candidate !== exclude : this.acceptable(candidate, exclude)) return candidate;
      p = p + 1 === points ? 0 : p + 1;
    }
    return fallback;
  }

  /** Index of the first point at or after `hash`, wrapping to 0. */
  private locate(hash: number): number {
    const hashes = this.hashes;
    let low = 0;
    let high = hashes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (hashes[middle] < hash) low = middle + 1;
      else high = middle;
    }
    return low === hashes.length ? 0 : low;
  }
}

export function createIpHashBalancer<E extends Endpoint = Endpoint>(options: BalancerOptions): Balancer<E> {
  return new IpHashBalancer<E>(options);
}
