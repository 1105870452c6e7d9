import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, WORKER_DEFAULTS } from '../src/config';

describe('worker sizing settings', () => {
  it('default to the measured values documented in the README', () => {
    const c = loadConfig({});
    expect(c.workerMaxCachedWorkflows).toBe(WORKER_DEFAULTS.maxCachedWorkflows);
    expect(c.workerMaxConcurrentActivities).toBe(WORKER_DEFAULTS.maxConcurrentActivities);
    expect(c.workerMaxConcurrentWorkflowTasks).toBe(WORKER_DEFAULTS.maxConcurrentWorkflowTasks);
  });

  it('read WORKER_MAX_CACHED_WORKFLOWS, WORKER_MAX_CONCURRENT_ACTIVITIES and WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', () => {
    const c = loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '300', WORKER_MAX_CONCURRENT_ACTIVITIES: '20', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '8' });
    expect([c.workerMaxCachedWorkflows, c.workerMaxConcurrentActivities, c.workerMaxConcurrentWorkflowTasks]).toEqual([300, 20, 8]);
  });

  it('refuse values the SDK would reject, naming the variable', () => {
    expect(() => loadConfig({ WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' })).toThrow(ConfigError);
    expect(() => loadConfig({ WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' })).toThrow(/WORKER_MAX_CONCURRENT_WORKFLOW_TASKS/);
    expect(() => loadConfig({ WORKER_MAX_CONCURRENT_ACTIVITIES: '0' })).toThrow(/WORKER_MAX_CONCURRENT_ACTIVITIES/);
  });
});
