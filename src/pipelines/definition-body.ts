/**
 * Reads a pipeline definition from a request body: JSON, or YAML
 * (`application/yaml`, `text/yaml`, `application/x-yaml`) parsed by the
 * `yaml` package as one document with few aliases, so a small body cannot
 * expand into a huge value. The size bound is checked on the bytes before
 * parsing, and the result must be a plain object.
 */
import { parse as parseYaml } from 'yaml';
import { PipelineError } from './pipeline-error.ts';

/** Media types read as YAML; anything else with a body must be JSON. */
export const YAML_MEDIA_TYPES: ReadonlySet<string> = new Set(['application/yaml', 'text/yaml', 'application/x-yaml']);
/** Aliases one YAML document may use (yaml's own default is 100). */
const MAX_YAML_ALIASES = 50;

/** Whether a Content-Type header names YAML. */
export function isYamlMediaType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return YAML_MEDIA_TYPES.has(type);
}

/**
 * Parses a definition body.
 * @throws PipelineError `invalid-body` when it is not one JSON or YAML object.
 */
export function parseDefinitionBody(text: string, yaml: boolean): Record<string, unknown> {
  let value: unknown;
  try {
    value = yaml ? parseYaml(text, { maxAliasCount: MAX_YAML_ALIASES, uniqueKeys: true, prettyErrors: true }) : JSON.parse(text);
  } catch (err) {
    const what = yaml ? 'YAML' : 'JSON';
    throw new PipelineError('invalid-body', `the body is not valid ${what}: ${(err as Error).message.split('\n')[0] ?? ''}`, { field: 'body', cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PipelineError('invalid-body', 'the body must be one pipeline definition object', { field: 'body' });
  }
  return value as Record<string, unknown>;
}
