/** errors/: the base error of Loom's services; the edges translate it (src/http/errors.ts for HTTP). */
export { FAILURE_KINDS, InvalidInputError, RateLimitedError, ServiceError, type FailureKind, type ServiceErrorOptions } from './service-error.ts';
