import { z, type ZodType } from 'zod';
import type { RouteDef } from './route';
import { IDEMPOTENCY_HEADER, REPLAYED_HEADER } from './idempotency';
import { IDEMPOTENCY_IN_FLIGHT_SECONDS, IDEMPOTENCY_TTL_HOURS } from '../db/idempotency';
import { OPERATION_EXAMPLES, type OperationExample } from './examples';

function idempotencyParameter(r: RouteDef) {
  const replay =
    r.idempotency?.mode === 'refuse'
      ? 'a retry with the same key and body is refused with 409 saying what the first request created (its response holds a secret that is never stored)'
      : `a retry with the same key and body gets the first response again (status, body and headers, plus \`${REPLAYED_HEADER}: true\`) instead of running twice`;
  return {
    name: IDEMPOTENCY_HEADER,
    in: 'header',
    required: false,
    description:
      `Makes retrying safe: within ${IDEMPOTENCY_TTL_HOURS} h, for the same API key, ${replay}. The same key with another method, path or body is a 422; ` +
      `while the first request is still being processed a retry gets 409 with Retry-After: 1 (after ${IDEMPOTENCY_IN_FLIGHT_SECONDS} s it is taken as abandoned and runs again). ` +
      'Only successful (2xx) responses are remembered: after an error the same key runs the request again. Keys are per API key: another key never sees this response.',
    schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7E]+$' },
    example: '5f0c8a8e-3c1b-4f5e-9d0a-2b6f1c7e9a41',
  };
}

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

function parameters(schema: ZodType | undefined, where: 'path' | 'query', examples: Record<string, string> | undefined) {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: s,
    ...(examples?.[name] !== undefined ? { example: examples[name] } : {}),
  }));
}

/** The operation's key in OPERATION_EXAMPLES: method and OpenAPI path, e.g. `put /v1/contacts/{externalId}`. */
export const operationKey = (method: string, openApiPath: string) => `${method} ${openApiPath}`;

/** OpenAPI 3.1 from the same route table and zod schemas that validate requests. */
export function buildOpenApi(routes: RouteDef[], info: { version: string; serverUrl?: string }, examples: Record<string, OperationExample> = OPERATION_EXAMPLES) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const ex = examples[operationKey(r.method, path)];
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      const example = ex?.response && String(ex.response.status) === status ? { example: ex.response.body } : {};
      const media = resp.schema ? { schema: jsonSchema(resp.schema, 'output'), ...example } : 'example' in example ? example : undefined;
      responses[status] = { description: resp.description, ...(media ? { content: { [resp.contentType ?? 'application/json']: media } } : {}) };
    }
    const problem = { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
    const body = r.body ?? r.bodyDoc;
    if (body || r.query || r.params) responses['400'] ??= { description: 'Invalid request; `errors` names each field.', ...problem };
    if (r.auth !== 'public') {
      responses['401'] ??= { description: 'Missing, malformed or revoked API key.', ...problem };
      responses['403'] ??= { description: `Requires role: ${[...r.auth, 'admin'].join(' or ')}.`, ...problem };
      responses['429'] ??= { description: 'Rate limit exceeded; see Retry-After.', ...problem };
    }
    if (r.idempotency) {
      for (const [status, resp] of Object.entries(responses)) {
        if (status.startsWith('2') && r.idempotency.mode === 'replay') {
          (resp as Record<string, unknown>).headers = {
            [REPLAYED_HEADER]: { description: `\`true\` when this is the stored response to an earlier request with the same ${IDEMPOTENCY_HEADER}`, schema: { type: 'string', enum: ['true'] } },
          };
        }
      }
      const inFlight = r.idempotency.mode === 'refuse'
        ? `A request with this ${IDEMPOTENCY_HEADER} is still being processed, or already succeeded (its response is not replayed)`
        : `A request with this ${IDEMPOTENCY_HEADER} is still being processed; retry after Retry-After`;
      const conflict = responses['409'] as { description: string } | undefined;
      responses['409'] = conflict ? { ...conflict, description: `${conflict.description}; or: ${inFlight[0]!.toLowerCase()}${inFlight.slice(1)}` } : { description: inFlight, ...problem };
      const unprocessable = responses['422'] as { description: string } | undefined;
      const reused = `The ${IDEMPOTENCY_HEADER} was already used with another request`;
      responses['422'] = unprocessable ? { ...unprocessable, description: `${unprocessable.description}; or: ${reused[0]!.toLowerCase()}${reused.slice(1)}` } : { description: reused, ...problem };
    }
    (paths[path] ??= {})[r.method] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(r.auth === 'public' ? { security: [] } : { 'x-roles': [...r.auth, 'admin'] }),
      parameters: [...parameters(r.params, 'path', ex?.params), ...parameters(r.query, 'query', ex?.query), ...(r.idempotency ? [idempotencyParameter(r)] : [])],
      ...(body
        ? { requestBody: { required: true, content: Object.fromEntries((r.bodyContentTypes ?? ['application/json']).map((t) => [t, { schema: jsonSchema(body, 'input'), ...(ex?.request !== undefined ? { example: ex.request } : {}) }])) } }
        : {}),
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
        'marketer, integration, ops, admin. Errors are application/problem+json. Operations that create or do something ' +
        'take an optional `Idempotency-Key` header (listed on each): a retry with the same key and body within 24 h gets the ' +
        'first response again. `POST /v1/events` takes none: an event\'s `id` is its key, and a re-sent id is a duplicate.',
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
