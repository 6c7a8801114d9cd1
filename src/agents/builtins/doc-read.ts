/**
 * `doc_read`: a document's content as the owner would get it from
 * GET /v1/docs/:id (through the documents service and the document actor):
 * its plain text, or its roots as JSON.
 */
import type { DocContent } from '../../../protocol/doc.ts';
import type { DocId } from '../../../protocol/ids.ts';
import type { Principal } from '../../auth/index.ts';
import type { RunnableTool, ToolInvocation } from '../runnable-tool.ts';
import { DOC_ID_PARAMETER, ownerPrincipal, targetDoc } from './doc-target.ts';

/** The slice of the DocumentService this tool uses (it checks the viewer role). */
export interface DocumentReader {
  content(principal: Principal | null, id: DocId): Promise<DocContent>;
}

interface DocReadArgs {
  readonly docId?: string;
  readonly format?: 'text' | 'json';
}

export function docReadTool(documents: DocumentReader, timeoutMs: number): RunnableTool {
  return {
    descriptor: {
      name: 'doc_read',
      description:
        "Reads a document's current content. format `text` (default) gives its plain text; `json` gives every root (text, map, array, xml) as JSON.",
      parameters: {
        type: 'object',
        properties: { docId: DOC_ID_PARAMETER, format: { type: 'string', enum: ['text', 'json'] } },
        additionalProperties: false,
      },
      timeoutMs,
      needsApproval: false,
      source: 'builtin',
    },
    async run(raw: unknown, call: ToolInvocation): Promise<string> {
      const args = raw as DocReadArgs;
      const id = targetDoc(args.docId, call);
      const content = await documents.content(ownerPrincipal(call.ownerId), id);
      // A document that is not text (maps, arrays) has no plain text: its JSON is what there is to read.
      if (args.format === 'json' || content.text === null) return JSON.stringify({ docId: id, seq: content.seq, roots: content.roots });
      return content.text;
    },
  };
}
