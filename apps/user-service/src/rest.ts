import { HttpProblem, type KitHandler, type KitResponse, type ServerRequest } from '@meshkit/http';
import { invalid, isUserError, type UserErrorKind } from './errors.ts';
import { type TraceHeaders, traceHeadersOf } from './events.ts';
import type { User } from './user.ts';
import type { Users } from './users.ts';

const problems: Readonly<Record<UserErrorKind, { status: number; title: string }>> = {
  'invalid-argument': { status: 400, title: 'invalid request' },
  'not-found': { status: 404, title: 'user not found' },
  'already-exists': { status: 409, title: 'already exists' },
  'resource-exhausted': { status: 429, title: 'too many' },
  unavailable: { status: 503, title: 'unavailable' },
};

/** The REST form of a domain error (see `errors.ts` for the table); anything else passes unchanged. */
export function restError(error: unknown): unknown {
  if (!isUserError(error)) return error;
  const { status, title } = problems[error.kind];
  return new HttpProblem({
    status,
    title,
    detail: error.message,
    ...(error.field === undefined ? {} : { field: error.field }),
  });
}

/** A user as REST returns it: the status by its enum name, times in epoch milliseconds. */
export function userJson(user: User) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    status: user.status,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  };
}

const createFields = new Set(['email', 'name', 'status']);
const updateFields = createFields;

/** The JSON body as an object with only `allowed` fields; anything else is a 400 naming the field. */
async function objectBody(
  req: ServerRequest,
  allowed: ReadonlySet<string>,
): Promise<Record<string, unknown>> {
  const body = await req.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body', 'must be a JSON object');
  for (const field of Object.keys(body)) {
    if (!allowed.has(field)) throw invalid(field, 'is not a field of a user you can set');
  }
  return body as Record<string, unknown>;
}

function pageSize(raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw invalid('page_size', 'must be a whole number, 0 or more');
  return Number(raw);
}

function methodNotAllowed(allow: string): never {
  throw new HttpProblem({ status: 405, title: 'method not allowed', detail: `allowed: ${allow}` }, { allow });
}

/**
 * The REST API over the domain:
 *
 * | route | answer |
 * | --- | --- |
 * | `POST /users` `{ email, name, status? }` | 201 with the user and `Location` |
 * | `GET /users/:id` | 200 with the user |
 * | `GET /users?page_size=&page_token=` | 200 `{ users, next_page_token }` |
 * | `PATCH /users/:id` `{ email?, name?, status? }` | 200 with the user |
 * | `DELETE /users/:id` | 204 |
 *
 * Errors are RFC 9457 problems (`application/problem+json`) naming the field at fault.
 */
export function restHandler(domain: Users): KitHandler {
  const route = async (req: ServerRequest, trace: TraceHeaders): Promise<KitResponse> => {
    if (req.path === '/users') {
      if (req.method === 'POST') {
        const body = await objectBody(req, createFields);
        const user = await domain.create({ email: body.email, name: body.name, status: body.status }, trace);
        return { status: 201, headers: { location: `/users/${user.id}` }, body: userJson(user) };
      }
      if (req.method === 'GET') {
        const page = await domain.list({
          pageSize: pageSize(req.query.get('page_size')),
          pageToken: req.query.get('page_token') ?? undefined,
        });
        return { body: { users: page.users.map(userJson), next_page_token: page.nextPageToken } };
      }
      methodNotAllowed('GET, POST');
    }
    const match = /^\/users\/([^/]+)$/.exec(req.path);
    if (match !== null) {
      let id: string;
      try {
        id = decodeURIComponent(match[1] ?? '');
      } catch {
        throw invalid('id', 'is not a valid path segment');
      }
      if (req.method === 'GET') return { body: userJson(await domain.get(id)) };
      if (req.method === 'PATCH') {
        return { body: userJson(await domain.update(id, await objectBody(req, updateFields), trace)) };
      }
      if (req.method === 'DELETE') {
        await domain.remove(id, trace);
        return { status: 204 };
      }
      methodNotAllowed('GET, PATCH, DELETE');
    }
    throw new HttpProblem({ status: 404, title: 'not found', detail: `no route ${req.method} ${req.path}` });
  };
  return async (req, ctx) => {
    try {
      return await route(req, traceHeadersOf(ctx));
    } catch (error) {
      throw restError(error);
    }
  };
}
