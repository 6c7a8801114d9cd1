/**
 * `doc_search`: full-text search over the documents the session owner is a
 * member of (PostgreSQL, see src/storage/postgres/document-text-index.ts).
 * A document's text is searchable as of its latest snapshot; titles always.
 */
import type { DocumentSearchHit } from '../../storage/index.ts';
import type { RunnableTool, ToolInvocation } from '../runnable-tool.ts';

/** Searches one user's documents. */
export type DocumentSearch = (userId: string, query: string, limit: number) => Promise<readonly DocumentSearchHit[]>;

interface DocSearchArgs {
  readonly query: string;
  readonly limit?: number;
}

const DEFAULT_LIMIT = 5;

export function docSearchTool(search: DocumentSearch, timeoutMs: number): RunnableTool {
  return {
    descriptor: {
      name: 'doc_search',
      description:
        'Searches the documents you may read by their title and text (words, "quoted phrases", -excluded words, OR). ' +
        'Returns the best matches with their docId, title, your role and a snippet (matches between « and »).',
      parameters: {
        type: 'object',
        properties: {
          query: { type: 'string', minLength: 1, maxLength: 500 },
          limit: { type: 'integer', minimum: 1, maximum: 20, description: `How many documents at most (default ${DEFAULT_LIMIT})` },
        },
        required: ['query'],
        additionalProperties: false,
      },
      timeoutMs,
      needsApproval: false,
      source: 'builtin',
    },
    async run(raw: unknown, call: ToolInvocation): Promise<string> {
      const args = raw as DocSearchArgs;
      // PostgreSQL text cannot hold NUL; as a search term it means nothing anyway.
      const query = args.query.replace(/\u0000/g, ' ');
      const hits = await search(call.ownerId, query, args.limit ?? DEFAULT_LIMIT);
      return JSON.stringify({
        results: hits.map((h) => ({ docId: h.docId, title: h.title, role: h.role, snippet: h.snippet, updatedAt: h.updatedAt.toISOString() })),
      });
    },
  };
}
