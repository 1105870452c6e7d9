import { describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { routeTable, type AppDeps } from '../../src/api/app';
import { OPERATION_EXAMPLES } from '../../src/api/examples';
import { operationKey } from '../../src/api/openapi';
import { apiDocument } from '../../scripts/generate-client';

type Param = { name: string; in: string; example?: unknown };
type Media = { schema?: unknown; example?: unknown };
type Operation = { parameters: Param[]; requestBody?: { content: Record<string, Media> }; responses: Record<string, { content?: Record<string, Media> }> };

const doc = apiDocument();
const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: operationKey(method, path), op: op as Operation })));
const routes = routeTable({ database: { db: {} }, temporal: {}, taskQueue: 'x', triggers: {}, signingSecrets: ['x'] } as unknown as AppDeps);

describe('examples in the OpenAPI document', () => {
  it('every operation carries an example: its body, each path parameter, and a response where it answers with content', () => {
    const missing: string[] = [];
    for (const { key, op } of operations) {
      const body = op.requestBody && Object.values(op.requestBody.content).some((m) => m.example !== undefined);
      if (op.requestBody && !body) missing.push(`${key}: request body`);
      for (const p of op.parameters.filter((x) => x.in === 'path' && x.example === undefined)) missing.push(`${key}: path parameter ${p.name}`);
      const withContent = Object.entries(op.responses).filter(([s, r]) => /^2/.test(s) && r.content && Object.values(r.content).some((m) => m.schema));
      const response = Object.values(op.responses).some((r) => Object.values(r.content ?? {}).some((m) => m.example !== undefined));
      const params = op.parameters.some((p) => p.example !== undefined && p.in !== 'header');
      // A response with a typed body shows one, unless the request side already shows the call (params or body).
      if (withContent.length && !response && !body && !params) missing.push(`${key}: response`);
      // Nothing at all to show is only right for an operation without parameters, body or response content.
      const exemplifiable = op.requestBody || op.parameters.some((p) => p.in !== 'header') || Object.entries(op.responses).some(([s, r]) => /^2/.test(s) && r.content);
      if (exemplifiable && !body && !params && !response) missing.push(`${key}: no example at all`);
    }
    expect(missing).toEqual([]);
    expect(operations.length).toBeGreaterThan(50);
  });

  it('names no operation the route table lacks, and shows responses the operation declares', () => {
    const keys = new Set(operations.map((o) => o.key));
    expect(Object.keys(OPERATION_EXAMPLES).filter((k) => !keys.has(k))).toEqual([]);
    for (const { key, op } of operations) {
      const ex = OPERATION_EXAMPLES[key];
      if (ex?.response) expect(op.responses[String(ex.response.status)], `${key} declares ${ex.response.status}`).toBeDefined();
    }
  });

  it('every request-side example is accepted by the schemas that validate real requests', () => {
    const refused: string[] = [];
    const check = (key: string, where: string, schema: ZodType | undefined, value: unknown) => {
      if (!schema || value === undefined) return;
      const r = schema.safeParse(value);
      if (!r.success) refused.push(`${key} ${where}: ${r.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
    };
    for (const r of routes) {
      const key = operationKey(r.method, r.path.replace(/:(\w+)/g, '{$1}'));
      const ex = OPERATION_EXAMPLES[key];
      if (!ex) continue;
      check(key, 'params', r.params, ex.params);
      check(key, 'query', r.query, ex.query);
      check(key, 'body', r.body ?? r.bodyDoc, ex.request);
    }
    expect(refused).toEqual([]);
  });
});
