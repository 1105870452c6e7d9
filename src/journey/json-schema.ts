/** JSON Schema of the journey source format, for editors (`# yaml-language-server: $schema=…`) and API docs. */
import { z } from 'zod';
import { JourneySource } from './schema';

export function journeyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(JourneySource, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** The exact text committed as journeys/journey.schema.json. */
export function journeyJsonSchemaText(): string {
  return `${JSON.stringify(journeyJsonSchema(), null, 2)}\n`;
}
