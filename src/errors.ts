/** Domain errors carry a stable `code` and the HTTP status the API answers with. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly errors: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string, id: string) {
    super('not_found', 404, `${what} "${id}" was not found`);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string) {
    super('conflict', 409, message);
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, errors: { path: string; message: string }[] = []) {
    super('validation_failed', 400, message, errors);
  }
}

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unhandled ${what}: ${JSON.stringify(value)}`);
}
