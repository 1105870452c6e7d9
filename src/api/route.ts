import { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import { z, type ZodType } from 'zod';
import { requireRole, type Role } from './auth';
import { idempotencyKeyOf, runIdempotent, type Idempotency } from './idempotency';
import type { Db } from '../db/client';
import { zodErrors } from './problem';
import { unstorableInput } from '../bounds';
import { ValidationError } from '../errors';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export type RouteResponse = { description: string; schema?: ZodType; contentType?: string };

/**
 * One entry of the route table: the single source for mounting, request validation, authorization, the OpenAPI
 * document and the authorization test matrix — so a new route cannot escape any of them.
 */
export type RouteDef<P extends ZodType = ZodType, Q extends ZodType = ZodType, B extends ZodType = ZodType> = {
  method: HttpMethod;
  /** Express-style path, e.g. `/v1/runs/:workflowId`. */
  path: string;
  summary: string;
  tag: string;
  /** Roles allowed besides `admin`, or `public` for unauthenticated endpoints (health, tracking). */
  auth: Role[] | 'public';
  params?: P;
  query?: Q;
  body?: B;
  /** Documents a body the handler validates itself (e.g. to report per-item errors). */
  bodyDoc?: ZodType;
  /** The media types of a body that `parse` reads (an upload), documented instead of application/json. */
  bodyContentTypes?: string[];
  responses: Record<number, RouteResponse>;
  /**
   * Honour the `Idempotency-Key` header (src/api/idempotency.ts): for a POST whose repetition would create or do
   * something twice. The key covers the method, path, query and `req.body` as parsed before the handler runs — so a
   * body the app-wide parsers leave unread must be read by `parse`, not in the handler. Authenticated routes only.
   */
  idempotency?: Idempotency;
  /** A body parser for content types the app-wide JSON and form parsers leave unread (journey YAML). */
  parse?: RequestHandler;
  handler: (
    ctx: { params: z.output<P>; query: z.output<Q>; body: z.output<B>; req: Request; res: Response },
  ) => Promise<{ status?: number; body?: unknown; headers?: Record<string, string> } | void>;
};

export function defineRoute<P extends ZodType, Q extends ZodType, B extends ZodType>(def: RouteDef<P, Q, B>): RouteDef {
  return def as unknown as RouteDef;
}

function parsePart<T extends ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> {
  if (!schema) return value as z.output<T>;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(`The request ${where} is invalid; see errors for each field.`, zodErrors(parsed.error, where === 'body' ? [] : [where]));
  }
  return parsed.data;
}

function guard(value: unknown, where: 'params' | 'query' | 'body') {
  // A JSON body's fields are named from its root; a text body (journey YAML, read by the route's `parse`) is `body`.
  const problem = unstorableInput(value, where === 'body' && typeof value !== 'string' ? [] : [where]);
  if (problem) throw new ValidationError(`The request ${where} is invalid; see errors for each field.`, [problem]);
}

type Guard = RequestHandler | ErrorRequestHandler;

/**
 * Mounts each route behind `guards.authenticated` (authentication, rate limits) and its role check, or behind
 * `guards.public` (the per-address limit) when it is public. Routes that declare `idempotency` keep their
 * Idempotency-Keys in `deps.db`.
 */
export function mountRoutes(routes: RouteDef[], guards: { authenticated: Guard[]; public: Guard[] }, deps: { db: Db }): Router {
  const router = Router();
  for (const route of routes) {
    // Keys are scoped per API key: a public route has none to scope them by.
    if (route.idempotency && route.auth === 'public') throw new Error(`${route.method.toUpperCase()} ${route.path}: Idempotency-Key needs an authenticated route`);
    const chain = route.auth === 'public' ? [...guards.public] : [...guards.authenticated, requireRole(...route.auth)];
    if (route.parse) chain.push(route.parse);
    router[route.method](route.path, ...chain, async (req: Request, res: Response) => {
      // A malformed key is a 400 before the request itself is validated or run.
      const idempotencyKey = route.idempotency ? idempotencyKeyOf(req) : undefined;
      // Every route, including those that validate their own body (events, journeys): no NUL or runaway depth gets in.
      guard(req.params, 'params');
      guard(req.query, 'query');
      guard(req.body, 'body');
      const params = parsePart(route.params, req.params, 'params');
      const query = parsePart(route.query, req.query, 'query');
      const body = parsePart(route.body, req.body, 'body');
      if (route.idempotency) return runIdempotent(deps.db, route.idempotency, idempotencyKey, req, res, () => route.handler({ params, query, body, req, res }));
      const out = await route.handler({ params, query, body, req, res });
      if (!out || res.headersSent) return;
      if (out.headers) res.set(out.headers);
      res.status(out.status ?? 200);
      if (out.body === undefined) res.end();
      else res.json(out.body);
    });
  }
  return router;
}
