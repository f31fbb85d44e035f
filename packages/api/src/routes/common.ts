// Small helpers the route files share.
import { ApiError } from '../errors.js';

/** 404 with the contract's shape. */
export const notFound = (message: string): ApiError => new ApiError('not-found', message);

/** `user@domain` split at its last `@` (the path parameter has been URL-decoded). */
export const splitUserDomain = (id: string, field: string): { user: string; domain: string } => {
  const at = id.lastIndexOf('@');
  if (at <= 0 || at === id.length - 1) throw new ApiError('invalid-request', `${field}: must be user@domain`, { field });
  return { user: id.slice(0, at), domain: id.slice(at + 1).toLowerCase() };
};
