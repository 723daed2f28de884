/** One part of a lookup key: an event's raw value (a string, a status code, `undefined`). */
type Part = string | number | undefined;

/** A level of the index: the next level's map, or the entry at the last level. */
type Level = Map<Part, unknown>;

/**
 * Entries (label-bound series) by the raw values of an event they were made from, as nested maps: a
 * repeated lookup hashes strings the event already holds (a route template, a method) instead of
 * concatenating a key, which made a new string to hash on every call. The last entry found is
 * remembered, so a run of calls alike costs a few identity comparisons.
 *
 * Holds at most `max` entries; past that {@link find} misses and {@link add} keeps nothing, so the
 * caller makes the entry each time (metric families dedupe series on their own).
 */
export class SeriesIndex<T> {
  readonly #root: Level = new Map();
  readonly #max: number;
  #size = 0;
  #hit: T | undefined;
  #a: Part;
  #b: Part;
  #c: Part;
  #d: Part;
  #e: Part;

  constructor(max: number) {
    this.#max = max;
  }

  /** The entry of these parts, if one was added. */
  find(a: Part, b: Part, c: Part, d: Part, e: Part): T | undefined {
    const hit = this.#hit;
    if (
      hit !== undefined &&
      this.#a === a &&
      this.#b === b &&
      this.#c === c &&
      this.#d === d &&
      this.#e === e
    ) {
      return hit;
    }
    const m1 = this.#root.get(a) as Level | undefined;
    const m2 = m1?.get(b) as Level | undefined;
    const m3 = m2?.get(c) as Level | undefined;
    const m4 = m3?.get(d) as Level | undefined;
    const found = m4?.get(e) as T | undefined;
    if (found !== undefined) this.#remember(found, a, b, c, d, e);
    return found;
  }

  /** Keeps `entry` under these parts, while there is room. */
  add(a: Part, b: Part, c: Part, d: Part, e: Part, entry: T): void {
    if (this.#size >= this.#max) return;
    const m4 = level(level(level(level(this.#root, a), b), c), d);
    if (!m4.has(e)) this.#size++;
    m4.set(e, entry);
    this.#remember(entry, a, b, c, d, e);
  }

  #remember(entry: T, a: Part, b: Part, c: Part, d: Part, e: Part): void {
    this.#hit = entry;
    this.#a = a;
    this.#b = b;
    this.#c = c;
    this.#d = d;
    this.#e = e;
  }
}

/** The map under `key` in `map`, made on first use. */
function level(map: Level, key: Part): Level {
  let next = map.get(key) as Level | undefined;
  if (next === undefined) {
    next = new Map();
    map.set(key, next);
  }
  return next;
}
