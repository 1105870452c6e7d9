import { z } from 'zod';
import { readPreferences, setTopicPreferences, type TopicChoices } from '../../contacts/preferences';
import { TOPIC_CHANNELS, type Topics } from '../../contacts/topics';
import type { Db } from '../../db/client';
import { NotFoundError } from '../../errors';
import type { IngestDeps } from '../../ingest/event';
import { defineRoute } from '../route';

export type PreferenceRouteDeps = { db: Db; topics: Topics; ingest?: IngestDeps };

/** A contact's subscription topics per channel: what the preference centre shows, for the CRM and marketers. */
export function preferenceRoutes(deps: PreferenceRouteDeps) {
  const ids = deps.topics.map((t) => t.id);
  const channelChoice = z.strictObject({
    /** Topic id → subscribed. Topics not named keep their current choice. */
    topics: z.record(z.string().max(40), z.boolean()),
  });
  const PreferencesChange = z
    .strictObject({ email: channelChoice.optional(), sms: channelChoice.optional() })
    .superRefine((body, ctx) => {
      for (const ch of TOPIC_CHANNELS) {
        for (const topic of Object.keys(body[ch]?.topics ?? {})) {
          if (!ids.includes(topic)) ctx.addIssue({ code: 'custom', path: [ch, 'topics', topic], message: `is not a configured topic (MAIL_TOPICS: ${ids.join(', ')})` });
        }
      }
      // Reported at `email` (the first channel it could name), not at the body: a body of other keys has fields.
      if (!body.email && !body.sms) ctx.addIssue({ code: 'custom', path: ['email'], message: 'name at least one channel: email or sms' });
    });

  const answer = async (id: string) => {
    const prefs = await readPreferences(deps.db, id, deps.topics);
    if (!prefs) throw new NotFoundError('Contact', id);
    return { body: { ...prefs, topics: deps.topics } };
  };

  return [
    defineRoute({
      method: 'get',
      path: '/v1/contacts/:id/preferences',
      tag: 'contacts',
      summary: "A contact's marketing consent and subscription topics per channel (the preference centre's state)",
      auth: ['integration', 'marketer', 'ops'],
      params: z.object({ id: z.uuid() }),
      responses: { 200: { description: 'The preferences, and the configured topics with their labels' }, 404: { description: 'No such contact' } },
      handler: ({ params }) => answer(params.id),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/contacts/:id/preferences',
      tag: 'contacts',
      summary: 'Opts a contact in or out of subscription topics per channel (audited; each topic withdrawn stores contact.unsubscribed with channel and topic)',
      auth: ['integration', 'marketer'],
      params: z.object({ id: z.uuid() }),
      body: PreferencesChange,
      responses: { 200: { description: 'The preferences after the change' }, 400: { description: 'Unknown topic or channel' }, 404: { description: 'No such contact' } },
      handler: async ({ params, body, req }) => {
        const choices: TopicChoices = {};
        for (const ch of TOPIC_CHANNELS) if (body[ch]) choices[ch] = body[ch].topics;
        const found = await setTopicPreferences(deps.db, params.id, choices, { source: 'api', actor: `api:${req.principal?.name ?? 'unknown'}` }, deps.ingest);
        if (!found) throw new NotFoundError('Contact', params.id);
        return answer(params.id);
      },
    }),
  ];
}
