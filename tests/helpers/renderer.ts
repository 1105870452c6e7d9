import { inject } from 'vitest';
import type { EmailRenderer } from '../../src/activities/deps';
import { createTemplateRenderer } from '../../src/templates/email';
import { createRenderer } from '../../src/wiring/channels';
import { TEMPLATES_DIR } from '../../src/paths';

/**
 * The sample templates' renderer, as a worker builds it (src/wiring/channels.ts createRenderer), with the layouts the
 * global setup compiled: importing `mjml` costs a test file about 3 s of CPU on this machine, and dozens of files build
 * a stack. tests/templates/layouts.test.ts compiles through createRenderer itself; a project without that setup (or a
 * layout problem, which createRenderer reports) falls back to it.
 */
export async function sampleRenderer(): Promise<EmailRenderer> {
  const compiled = inject('sampleLayouts');
  if (!compiled || compiled.problems.length > 0) return createRenderer();
  return createTemplateRenderer({ dir: TEMPLATES_DIR, defaultLocale: 'en', layouts: compiled.layouts });
}
