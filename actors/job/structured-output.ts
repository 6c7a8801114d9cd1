/**
 * Reading what a model wrote: plain text answers that must not be empty (JSON
 * answers are checked against a definition's schema in
 * definitions/activities.ts). A failure throws InvalidModelOutputError, which
 * the engine records as a failed attempt (code `invalid-output`) and retries;
 * it is never taken as a result.
 */

export class InvalidModelOutputError extends Error {
  override readonly name = 'InvalidModelOutputError';
  readonly code = 'invalid-output';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A plain-text answer, trimmed.
 * @throws InvalidModelOutputError when it is empty.
 */
export function parseTextOutput(text: string, what: string): string {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw new InvalidModelOutputError(`${what}: the model's answer is empty`);
  return trimmed;
}
