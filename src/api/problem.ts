import type { ErrorRequestHandler, RequestHandler } from 'express';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { ZodError } from 'zod';
import { fieldPath } from '../bounds';
import { inputDataError, type InputDataError } from '../db/errors';
import { DomainError } from '../errors';

export type Problem = {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  errors?: { path: string; message: string }[];
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problem(status: number, code: string, detail?: string, errors?: Problem['errors']): Problem {
  return { type: `https://itinera.dev/problems/${code}`, title: TITLES[status] ?? 'Error', status, code, detail, errors };
}

export function zodErrors(err: ZodError, prefix: string[] = []): { path: string; message: string }[] {
  return err.issues.map((i) => ({ path: fieldPath([...prefix, ...i.path]), message: i.message }));
}

/** One place maps every failure to application/problem+json; unknown errors never leak their message. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  let body: Problem;
  let refused: InputDataError | undefined;
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
  if (err instanceof ZodError) {
    body = problem(400, 'validation_failed', 'The request is invalid; see errors for each field.', zodErrors(err));
  } else if (err instanceof DomainError) {
    body = problem(err.status, err.code, err.message, err.errors.length ? err.errors : undefined);
  } else if (err instanceof WorkflowNotFoundError) {
    body = problem(404, 'run_not_found', 'No such run.');
  } else if (err instanceof WorkflowExecutionAlreadyStartedError) {
    body = problem(409, 'run_already_started', 'A run with this id is already running.');
  } else if (e?.type === 'entity.too.large') {
    body = problem(413, 'body_too_large', 'The request body is larger than the limit.');
  } else if (e?.type === 'entity.parse.failed') {
    body = problem(400, 'malformed_json', 'The request body is not valid JSON.');
  } else if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    body = problem(e.status, 'bad_request', e.message);
  } else if ((refused = inputDataError(err))) {
    // A safety net, not validation: a value the schemas let through and Postgres refused. Logged, so the schema that
    // should have named the field gets fixed; the client learns its request (not the server) is at fault.
    req.log?.warn({ err, sqlState: refused.sqlState }, 'the database refused a value the request carried');
    body = problem(400, 'unstorable_value', `A value in the request cannot be stored (${refused.message}).`);
  } else {
    req.log?.error({ err }, 'unhandled error');
    body = problem(500, 'internal_error', 'Something went wrong on our side; the request id identifies it in the logs.');
  }
  body.instance = req.originalUrl;
  res.status(body.status).type('application/problem+json').json(body);
};

export const notFoundHandler: RequestHandler = (req, res) => {
  res
    .status(404)
    .type('application/problem+json')
    .json({ ...problem(404, 'route_not_found', `No route for ${req.method} ${req.path}.`), instance: req.originalUrl });
};
