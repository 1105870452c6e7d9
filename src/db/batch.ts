/**
 * Group commit for hot statements: calls made while the event loop handles one batch of I/O are coalesced into a
 * single `run(items)` (one round trip, one statement for Postgres to plan) on the next turn. Each caller still awaits
 * its own result, so nothing is acknowledged before its write is durable; batching changes cost, not semantics.
 *
 * A failing batch is retried item by item, so one bad item (a malformed id, a constraint violation) fails only its
 * own caller instead of every send that happened to share the round trip.
 */
export function batched<I, O>(run: (items: I[]) => Promise<O[]>, opts: { max?: number } = {}): (item: I) => Promise<O> {
  const max = opts.max ?? 200;
  type Waiter = { item: I; resolve: (o: O) => void; reject: (err: unknown) => void };
  let queue: Waiter[] = [];
  let scheduled = false;

  const runAlone = (w: Waiter) =>
    run([w.item]).then(
      ([o]) => w.resolve(o as O),
      (err: unknown) => w.reject(err),
    );

  const flushChunk = async (chunk: Waiter[]) => {
    try {
      const out = await run(chunk.map((w) => w.item));
      if (out.length !== chunk.length) throw new Error(`batch answered ${out.length} results for ${chunk.length} items`);
      chunk.forEach((w, i) => w.resolve(out[i] as O));
    } catch (err) {
      if (chunk.length === 1) return chunk[0]!.reject(err);
      await Promise.all(chunk.map(runAlone));
    }
  };

  const flush = () => {
    scheduled = false;
    const all = queue;
    queue = [];
    for (let i = 0; i < all.length; i += max) void flushChunk(all.slice(i, i + max));
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
