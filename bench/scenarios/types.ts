import type { Metric } from '../lib/report';

/** What a scenario hands back; the harness adds the scenario name, machine and date. */
export type ScenarioOutput = { metrics: Metric[]; params: Record<string, unknown>; notes: string[] };
