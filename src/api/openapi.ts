import { z, type ZodType } from 'zod';
import type { RouteDef } from './route';

const ProblemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

function jsonSchema(schema: ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

function parameters(schema: ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: s,
  }));
}

/** OpenAPI 3.1 from the same route table and zod schemas that validate requests. */
export function buildOpenApi(routes: RouteDef[], info: { version: string; serverUrl?: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      responses[status] = {
        description: resp.description,
        ...(resp.schema ? { content: { [resp.contentType ?? 'application/json']: { schema: jsonSchema(resp.schema, 'output') } } } : {}),
      };
    }
    const problem = { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
    const body = r.body ?? r.bodyDoc;
    if (body || r.query || r.params) responses['400'] ??= { description: 'Invalid request; `errors` names each field.', ...problem };
    if (r.auth !== 'public') {
      responses['401'] ??= { description: 'Missing, malformed or revoked API key.', ...problem };
      responses['403'] ??= { description: `Requires role: ${[...r.auth, 'admin'].join(' or ')}.`, ...problem };
      responses['429'] ??= { description: 'Rate limit exceeded; see Retry-After.', ...problem };
    }
    (paths[path] ??= {})[r.method] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(r.auth === 'public' ? { security: [] } : { 'x-roles': [...r.auth, 'admin'] }),
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'itinera API',
      version: info.version,
      description:
        'Marketing-automation journeys on Temporal. Authenticate with `Authorization: Bearer <api key>`; roles: ' +
        'marketer, integration, ops, admin. Errors are application/problem+json.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'itinera API key (itk_…)' } },
      schemas: { Problem: ProblemSchema },
    },
    paths,
  };
}

/** A self-contained docs page: Swagger UI served from our own origin (no CDN), reading /openapi.json. */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>itinera API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>`;

export const DOCS_INIT_JS = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true });`;
