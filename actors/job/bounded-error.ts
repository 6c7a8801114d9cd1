/**
 * Error texts as a job's log can hold them. A model server's or a tool's
 * error message has no length of its own (an HTML error page, a stack), but
 * a log event's error is at most 4,000 characters (jobErrorSchema): an event
 * over it was appended, then refused by every decoder, so the job could not
 * be replayed (activated again) or followed. Messages are cut when emitted.
 */
import type { JobError, JobEvent } from '../../protocol/job-events.ts';

/** Longest error code and message a log event holds (jobErrorSchema). */
export const MAX_ERROR_CODE_CHARS = 64;
export const MAX_ERROR_MESSAGE_CHARS = 4_000;
const CUT_MARK = ' […]';

/** `error` within the log's bounds: a longer message is cut, marked, and kept well-formed (no half surrogate pair). */
export function boundedError(error: JobError): JobError {
  if (error.message.length <= MAX_ERROR_MESSAGE_CHARS && error.code.length <= MAX_ERROR_CODE_CHARS) return error;
  const message = error.message.length <= MAX_ERROR_MESSAGE_CHARS ? error.message : `${error.message.slice(0, MAX_ERROR_MESSAGE_CHARS - CUT_MARK.length).toWellFormed()}${CUT_MARK}`;
  return { code: error.code.slice(0, MAX_ERROR_CODE_CHARS), message };
}

/** The event with its error (if it carries one) within the log's bounds; the same event when nothing is cut. */
export function withBoundedError(event: JobEvent): JobEvent {
  if (event.type !== 'step-attempt-failed' && event.type !== 'job-failed') return event;
  const error = boundedError(event.error);
  return error === event.error ? event : { ...event, error };
}
