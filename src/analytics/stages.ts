/** The lifecycle funnel, in order: every report counts a contact as having reached a stage if it reached it or any later one. */
export const FUNNEL_STAGES = ['lead', 'mql', 'sql', 'opportunity', 'customer'] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];
