/**
 * Reading what a model wrote: JSON answers (fenced or not) checked against a
 * zod schema, and plain text answers that must not be empty. A failure throws
 * InvalidModelOutputError, which the engine records as a failed attempt
 * (code `invalid-output`) and retries; it is never taken as a result.
 */
import type { z } from 'zod';

export class InvalidModelOutputError extends Error {
  override readonly name = 'InvalidModelOutputError';
  readonly code = 'invalid-output';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const FENCE = /^\s*```[a-zA-Z]*\s*\n([\s\S]*?)\n\s*```\s*$/;

/**
 * Parses a JSON answer and validates it.
 * @throws InvalidModelOutputError naming the first problem.
 */
export function parseJsonOutput<T>(text: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, what: string): T {
  const fenced = FENCE.exec(text);
  const raw = (fenced?.[1] ?? text).trim();
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new InvalidModelOutputError(`${what}: the model's answer is not JSON`, { cause: err });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'answer' : issue.path.join('.');
    throw new InvalidModelOutputError(`${what}: ${where} ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data;
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

/** A line for prompts that ask for JSON. */
export function jsonInstruction(shape: string): string {
  return `Answer with JSON only, no prose and no code fences, exactly of this shape: ${shape}`;
}
