/**
 * Deterministic, dependency-free string hash for split assignment (workflow-safe: no node:crypto,
 * no Math.random). FNV-1a followed by murmur3's finalizer, which spreads similar ids (contact-1,
 * contact-2, …) evenly over the buckets.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
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

/** A stable position in [0, 100) for this contact at this split step. */
export function splitPosition(contactId: string, journeyId: string, stepId: string): number {
  return (hash32(`${contactId}\u0000${journeyId}\u0000${stepId}`) % 10_000) / 100;
}
