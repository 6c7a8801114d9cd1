/**
 * Conditions of choice branches and loop `until`: data, never code. A path
 * reads the template context; `equals` compares JSON values deeply, `in`
 * looks for an equal member, `exists` asks whether the path holds anything
 * but null/undefined.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Condition } from '../../../protocol/pipeline-definition.ts';
import { lookupPath, type TemplateContext } from './templates.ts';

export function evaluateCondition(condition: Condition, context: TemplateContext): boolean {
  if ('not' in condition) return !evaluateCondition(condition.not, context);
  if ('all' in condition) return condition.all.every((c) => evaluateCondition(c, context));
  if ('any' in condition) return condition.any.some((c) => evaluateCondition(c, context));
  const value = lookupPath(context, condition.path);
  if ('exists' in condition) return (value !== undefined && value !== null) === condition.exists;
  if ('equals' in condition) return isDeepStrictEqual(value ?? null, condition.equals);
  return condition.in.some((candidate) => isDeepStrictEqual(value ?? null, candidate));
}
