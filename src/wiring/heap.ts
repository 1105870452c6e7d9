/**
 * The sticky cache fitted to the process's heap. A cached run keeps its state in the V8 heap; a cache larger than the
 * heap can hold does not fail gracefully — V8 runs out of memory and the process dies. So the worker asks V8 for the
 * heap limit it was started with (`npm run worker` passes `--max-old-space-size=$WORKER_HEAP_MIB`, 640 by default, in
 * NODE_OPTIONS, where a later `--max-old-space-size` of the deployment's own wins; Node's default otherwise) and keeps fewer runs cached when the configured number would not fit: runs outside the cache are replayed from
 * history when they wake, slower but never lost.
 */
import v8 from 'node:v8';

/** Heap the process needs besides the cache: code, the workflow bundle's context, connections, the API in `npm start`. */
export const HEAP_BASE_MIB = 200;
/**
 * Heap per cached run, with room for the garbage a churning cache leaves between collections. Measured: ~0.21 MB of
 * RSS per cached run (WORKER_DEFAULTS); 1,500 cached runs parking 15,000 ran within a 512 MiB heap limit
 * (bench/BASELINE.md), i.e. under (512 − 200) / 1,500 ≈ 0.21 MiB each.
 */
export const HEAP_PER_CACHED_RUN_MIB = 0.2;
/** Below this a cache is no use (the SDK refuses fewer than 2; every run would replay at each step). */
const MIN_CACHE = 10;

/**
 * The old-generation limit in MiB — where cached runs live. Given with `--max-old-space-size` (flag or NODE_OPTIONS),
 * that value; otherwise V8's whole heap limit (Node's default is large next to a cache). V8's `heap_size_limit` also
 * counts the young generation, which differs between Node versions (16 to 192 MiB), so it is not used when the flag says.
 */
export function heapLimitMiB(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): number {
  let given: number | undefined;
  for (const arg of [...nodeOptions.split(/\s+/), ...execArgv]) {
    const m = /^--max[-_]old[-_]space[-_]size=(\d+)$/.exec(arg);
    if (m) given = Number(m[1]); // the last one wins, as in node
  }
  return given ?? v8.getHeapStatistics().heap_size_limit / 2 ** 20;
}

export type CacheSize = { size: number; configured: number; heapLimitMiB: number; limitedByHeap: boolean };

/** The configured cache, or as many runs as fit the heap limit when fewer do (0, cache off, stays 0). */
export function cacheForHeap(configured: number, heapMiB: number = heapLimitMiB()): CacheSize {
  const fits = Math.max(MIN_CACHE, Math.floor((heapMiB - HEAP_BASE_MIB) / HEAP_PER_CACHED_RUN_MIB));
  const size = configured === 0 ? 0 : Math.min(configured, fits);
  return { size, configured, heapLimitMiB: Math.round(heapMiB), limitedByHeap: size < configured };
}
