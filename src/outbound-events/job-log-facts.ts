/**
 * What the job log relay reads from an entry: the type and the few fields
 * its outbound events carry, checked by hand instead of with the job event
 * schema (protocol/job-events.ts). The relay reads every entry of every job
 * (about two per step), and decoding each whole with zod was most of its
 * CPU beside JSON.parse; the job actor, the log's only writer, encodes
 * every entry from a checked event, so the relay checks only what it uses.
 */
import { ACTIVITY_TYPES, isJobEventType, JOB_EVENT_VERSION, type ActivityType, type JobEventType } from '../../protocol/job-events.ts';

/** An entry as the relay needs it; types without outbound events keep only their type and time. */
export type JobLogFact =
  | { readonly type: 'job-created'; readonly at: number; readonly owner: string; readonly kind: string }
  | { readonly type: 'step-started'; readonly at: number; readonly step: string; readonly activity: ActivityType }
  | { readonly type: 'step-succeeded'; readonly at: number; readonly step: string; readonly attempt: number; readonly output: unknown }
  | { readonly type: 'job-failed'; readonly at: number; readonly step: string | null; readonly errorCode: string }
  | { readonly type: 'job-rejected'; readonly at: number; readonly step: string }
  | { readonly type: 'job-stuck'; readonly at: number; readonly since: number }
  | { readonly type: Exclude<JobEventType, 'job-created' | 'step-started' | 'step-succeeded' | 'job-failed' | 'job-rejected' | 'job-stuck'>; readonly at: number };

/** Thrown for an entry that is not a job event of a known type and version, or lacks a field the relay uses. */
export class JobLogFactError extends Error {
  override readonly name = 'JobLogFactError';
  readonly code = 'malformed-message';
}

const textDecoder = new TextDecoder();
const activities: ReadonlySet<string> = new Set(ACTIVITY_TYPES);

/**
 * Reads one job log entry's body.
 * @throws JobLogFactError when it is not JSON, names an unknown type or version, or a field the relay uses is missing or of the wrong type.
 */
export function readJobLogFact(body: Uint8Array): JobLogFact {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(body));
  } catch (err) {
    throw new JobLogFactError('job log entry: body is not UTF-8 JSON', { cause: err });
  }
  if (typeof value !== 'object' || value === null) throw new JobLogFactError('job log entry: not an object');
  const e = value as Record<string, unknown>;
  if (e.v !== JOB_EVENT_VERSION) throw new JobLogFactError(`job log entry: unsupported version ${JSON.stringify(e.v)}`);
  const type = e.type;
  if (typeof type !== 'string' || !isJobEventType(type)) throw new JobLogFactError(`job log entry: unknown type ${JSON.stringify(type)}`);
  const at = count(e, 'at', 0);
  switch (type) {
    case 'job-created':
      return { type, at, owner: text(e, 'owner', 0), kind: text(e, 'kind', 0) };
    case 'step-started': {
      const activity = text(e, 'activity');
      if (!activities.has(activity)) throw new JobLogFactError(`job log entry: unknown activity ${JSON.stringify(activity)}`);
      return { type, at, step: text(e, 'step'), activity: activity as ActivityType };
    }
    case 'step-succeeded':
      return { type, at, step: text(e, 'step'), attempt: count(e, 'attempt', 1), output: e.output };
    case 'job-failed': {
      const error = e.error;
      if (typeof error !== 'object' || error === null || typeof (error as { code?: unknown }).code !== 'string') throw new JobLogFactError('job log entry: error.code must be a string');
      return { type, at, step: e.step === null ? null : text(e, 'step'), errorCode: (error as { code: string }).code };
    }
    case 'job-rejected':
      return { type, at, step: text(e, 'step') };
    case 'job-stuck':
      return { type, at, since: count(e, 'since', 0) };
    default:
      return { type, at };
  }
}

/** A string field; step names and activities are never empty (the schema's bounds), owner and kind are only strings there. */
function text(e: Record<string, unknown>, key: string, minLength = 1): string {
  const v = e[key];
  if (typeof v !== 'string' || v.length < minLength) throw new JobLogFactError(`job log entry: ${key} must be a string of at least ${minLength} characters`);
  return v;
}

function count(e: Record<string, unknown>, key: string, min: number): number {
  const v = e[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new JobLogFactError(`job log entry: ${key} must be an integer of at least ${min}`);
  return v;
}
