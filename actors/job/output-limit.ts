/**
 * The largest output a step (or the job itself) may record. An output
 * travels whole twice: in the log event that records it and in the `output`
 * reply that serves it (GET …/output), each one NATS message. An output the
 * engine accepted but no reply could carry was recorded, then answered 413
 * forever; so the limit is held below what one reply carries, and a larger
 * output fails its attempt for good (`output-too-large`) when recorded.
 */
import { MAX_STEP_OUTPUT_BYTES } from '../../protocol/job-events.ts';

/**
 * Bytes an output's log event or `output` reply takes beside the output's
 * own JSON, at most: type, times, a step id (128 characters), usage (a model
 * name of 200), an artifact ref (a 512-byte key). output-limit.test.ts
 * measures the largest such envelope, every character escaped, under it.
 */
export const OUTPUT_ENVELOPE_BYTES = 16 * 1024;

/**
 * The output limit for replies of at most `maxReplyBytes` (the NATS
 * max_payload less room for headers; JobActorDeps.maxReplyBytes):
 * MAX_STEP_OUTPUT_BYTES, or less when that reply could not carry it.
 * @param maxReplyBytes unlimited when absent
 * @example maxOutputBytesFor(1_048_576 - 16_384) // 1_015_808
 */
export function maxOutputBytesFor(maxReplyBytes: number | undefined): number {
  if (maxReplyBytes === undefined) return MAX_STEP_OUTPUT_BYTES;
  return Math.max(0, Math.min(MAX_STEP_OUTPUT_BYTES, maxReplyBytes - OUTPUT_ENVELOPE_BYTES));
}

/** The error of an output over `limit`; `whose` names it (`step outline: its output`, `the job's result`). */
export function outputTooLargeMessage(whose: string, bytes: number, limit: number): string {
  return `${whose} is ${bytes} bytes of JSON, over ${limit}, the most one output may hold (1 MiB, or less so that one NATS message carries it: max_payload less ${OUTPUT_ENVELOPE_BYTES} bytes and room for headers)`;
}
