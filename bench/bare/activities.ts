/** Trivial activities for the bare baseline: each does nothing but return, so only Temporal's cost is measured. */
export const bareActivities = {
  async bareOne(_: { contactId: string }) {
    return 1;
  },
  async bareTwo(_: { contactId: string }) {
    return 1;
  },
  async bareThree(_: { contactId: string }) {
    return 1;
  },
  async bareFour(_: { contactId: string }) {
    return 1;
  },
};
export type BareActivities = typeof bareActivities;
