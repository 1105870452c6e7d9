/** Deterministic so that a duplicate trigger finds the run it would have started instead of starting another. */
export function journeyWorkflowId(journeyId: string, contactId: string, entryKey?: string): string {
  return entryKey ? `journey:${journeyId}:${contactId}:${entryKey}` : `journey:${journeyId}:${contactId}`;
}
