/**
 * The Temporal contract: what workflows, activities, the API and the CLI agree on. It imports nothing of ours but the
 * journey language's types, so every layer can depend on it and it depends on none of them (enforced by
 * .dependency-cruiser.cjs).
 */
export * from './activities';
export * from './ids';
export * from './messages';
export * from './progress';
export * from './search-attributes';
export * from './task-queues';
export * from './workflows';
