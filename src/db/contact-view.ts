import type { Contact } from '../journey/schema';
import type { ContactRow } from './queries';

/**
 * The contact as journeys see it (snake_case fields, as marketers write them in YAML and templates). The interpreter,
 * branch conditions and template contexts all read this one shape.
 */
export function toJourneyContact(row: ContactRow): Contact {
  const country = row.attributes.country;
  return {
    id: row.id,
    email: row.email,
    phone: row.phone,
    first_name: row.firstName,
    last_name: row.lastName,
    company: row.company,
    job_title: row.jobTitle,
    industry: row.industry,
    region: row.region,
    country: typeof country === 'string' ? country : null,
    timezone: row.timezone,
    locale: row.locale,
    lifecycle_stage: row.lifecycleStage as Contact['lifecycle_stage'],
    score: row.score,
    tags: row.tags,
    owner_id: row.ownerId,
    created_at: row.createdAt.toISOString(),
    attributes: row.attributes,
  };
}
