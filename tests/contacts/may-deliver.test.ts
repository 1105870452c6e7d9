import { describe, expect, it } from 'vitest';
import { mayDeliver, type DeliveryChannel, type MessageCategory } from '../../src/contacts/may-deliver';
import type { ConsentStatus } from '../../src/db/schema';

/**
 * Every cell of channel × category × consent × suppression, each written out by hand.
 * D = delivered, C = skipped for no_consent, S = skipped as suppressed.
 * Columns, in order: not suppressed, unsubscribed, complaint, bounced, manual, a reason the rule does not know.
 */
const SUPPRESSIONS = [null, 'unsubscribed', 'complaint', 'bounced', 'manual', 'legal-hold'] as const;

const MATRIX: [DeliveryChannel, MessageCategory, ConsentStatus | undefined, string][] = [
  // channel  category         consent       none unsub compl bounce manual unknown
  ['email', 'marketing', 'opted_in', '      D    S     S     S      S      S'],
  ['email', 'marketing', 'unknown', '       D    S     S     S      S      S'],
  ['email', 'marketing', undefined, '       D    S     S     S      S      S'],
  ['email', 'marketing', 'opted_out', '     C    C     C     C      C      C'],
  ['email', 'transactional', 'opted_in', '  D    D     D     S      S      S'],
  ['email', 'transactional', 'unknown', '   D    D     D     S      S      S'],
  ['email', 'transactional', undefined, '   D    D     D     S      S      S'],
  ['email', 'transactional', 'opted_out', ' D    D     D     S      S      S'],
  ['sms', 'marketing', 'opted_in', '        D    S     S     S      S      S'],
  ['sms', 'marketing', 'unknown', '         C    C     C     C      C      C'],
  ['sms', 'marketing', undefined, '         C    C     C     C      C      C'],
  ['sms', 'marketing', 'opted_out', '       C    C     C     C      C      C'],
  ['sms', 'transactional', 'opted_in', '    D    D     D     S      S      S'],
  ['sms', 'transactional', 'unknown', '     D    D     D     S      S      S'],
  ['sms', 'transactional', undefined, '     D    D     D     S      S      S'],
  ['sms', 'transactional', 'opted_out', '   D    D     D     S      S      S'],
];

const OUTCOME = { D: { deliver: true }, C: { deliver: false, skip: 'no_consent' }, S: { deliver: false, skip: 'suppressed' } } as const;

const cells = MATRIX.flatMap(([channel, category, consent, row]) => {
  const marks = row.trim().split(/\s+/) as (keyof typeof OUTCOME)[];
  if (marks.length !== SUPPRESSIONS.length) throw new Error(`matrix row ${channel}/${category}/${consent} has ${marks.length} cells`);
  return SUPPRESSIONS.map((suppression, i) => ({ channel, category, consent, suppression, expected: OUTCOME[marks[i]!] }));
});

describe('mayDeliver: the one rule for every send', () => {
  it('covers every cell of the matrix', () => {
    expect(cells).toHaveLength(2 * 2 * 4 * SUPPRESSIONS.length);
  });

  it.each(cells)('$channel $category, consent $consent, suppression $suppression', ({ channel, category, consent, suppression, expected }) => {
    expect(mayDeliver({ channel, category, consent, suppression })).toEqual(expected);
  });
});

/**
 * Topics: channel × category × channel consent × the contact's choice for the message's topic (no suppression).
 * Columns: topic never chosen, opted in to the topic, opted out of it. A topic opt-in never overrides a channel opt-out;
 * transactional mail ignores topic choices.
 */
const TOPIC_CHOICES = [undefined, 'opted_in', 'opted_out'] as const;
const TOPIC_MATRIX: [DeliveryChannel, MessageCategory, ConsentStatus | undefined, string][] = [
  // channel  category         consent       never  in  out
  ['email', 'marketing', 'opted_in', '      D     D   C'],
  ['email', 'marketing', undefined, '       D     D   C'],
  ['email', 'marketing', 'opted_out', '     C     C   C'],
  ['email', 'transactional', 'opted_in', '  D     D   D'],
  ['email', 'transactional', 'opted_out', ' D     D   D'],
  ['sms', 'marketing', 'opted_in', '        D     D   C'],
  ['sms', 'marketing', undefined, '         C     C   C'],
  ['sms', 'transactional', 'opted_in', '    D     D   D'],
  ['sms', 'transactional', 'opted_out', '   D     D   D'],
];
const topicCells = TOPIC_MATRIX.flatMap(([channel, category, consent, row]) => {
  const marks = row.trim().split(/\s+/) as (keyof typeof OUTCOME)[];
  if (marks.length !== TOPIC_CHOICES.length) throw new Error(`topic row ${channel}/${category}/${consent} has ${marks.length} cells`);
  return TOPIC_CHOICES.map((choice, i) => ({ channel, category, consent, choice, expected: OUTCOME[marks[i]!] }));
});

describe('mayDeliver: subscription topics', () => {
  it.each(topicCells)('$channel $category, consent $consent, topic $choice', ({ channel, category, consent, choice, expected }) => {
    expect(mayDeliver({ channel, category, consent, suppression: null, topic: { id: 'newsletter', consent: choice } })).toEqual(expected);
  });

  it('a hard-bounced address stays suppressed for transactional mail whatever the topic choice', () => {
    expect(mayDeliver({ channel: 'email', category: 'transactional', consent: 'opted_in', suppression: 'bounced', topic: { id: 'newsletter', consent: 'opted_in' } }))
      .toEqual({ deliver: false, skip: 'suppressed' });
  });
});
