/**
 * Batch workflows (audience launches, bulk run actions, score decay) run on their own task queue beside the journey
 * runs' queue: a launch that starts 100,000 runs fills the runs' queue with their first tasks, and a launch waiting
 * behind its own runs would crawl (its progress query would time out). The same worker process polls both.
 */
export const batchTaskQueue = (taskQueue: string): string => `${taskQueue}-batch`;
