/**
 * `doc_edit`: writes into a live document through its actor, as the
 * session's own Yjs client, so people editing the document see the agent's
 * text arrive and keep typing beside it (the CRDT merges both). Each edit
 * syncs the document into a local Y.Doc, makes the change there and sends
 * only the difference as one update, attributed `agent:<sessionId>`.
 *
 * Idempotent on retry: each call writes as a Yjs client of its own, its id
 * derived from the session and call ids, so a call re-run after a crash of
 * the session's host (recovery re-runs calls that started but have no
 * result) finds its earlier edit in the document's state vector and does
 * not make it twice. An edit that only deletes (`replace` with empty
 * `text`) leaves no such trace and may delete again on a retry. The edits
 * of a session still run one at a time, in the order the calls started.
 *
 * A Y.Text root is edited as text; an XML root (TipTap, ProseMirror) as
 * paragraphs: offsets count its plain text (paragraphs joined by "\n", as
 * doc_read shows it) and each "\n" written starts a paragraph (see
 * actors/document/text-blocks.ts). A root that does not exist yet is made
 * as `rootType` says, else as Y.Text.
 */
import * as Y from 'yjs';
import { appendBlocks, blocksText, editBlocks, TextBlockError, type TextRootType } from '../../../actors/document/index.ts';
import { clientIdForJob } from '../../../actors/job/index.ts';
import type { DocId } from '../../../protocol/ids.ts';
import type { ApiScope, Principal } from '../../auth/index.ts';
import type { DocRole } from '../../documents/index.ts';
import type { RunnableTool, ToolInvocation } from '../runnable-tool.ts';
import { ToolFailure } from '../tool-failure.ts';
import { DOC_ID_PARAMETER, ownerPrincipal, targetDoc } from './doc-target.ts';
import { pickTextRoot } from './text-root.ts';

/** The document actor's sync and update commands (src/jobs ActorDocumentPort). */
export interface DocumentWriter {
  sync(docId: string, stateVector: Uint8Array, signal: AbortSignal): Promise<Uint8Array>;
  update(docId: string, update: Uint8Array, signal: AbortSignal, author?: string): Promise<void>;
}

/** The slice of the DocumentService this tool uses. */
export interface EditorCheck {
  /** @throws the documents service's not-found / forbidden errors when the principal may not edit. */
  authorize(principal: Principal, id: DocId, needed: DocRole, scope: ApiScope): Promise<unknown>;
}

export interface DocEditDeps {
  readonly documents: EditorCheck;
  readonly writer: DocumentWriter;
  /** `open`: anyone edits, as on the collaboration endpoints (Config.docAccess). */
  readonly access: 'members' | 'open';
  readonly maxTextChars: number;
  readonly timeoutMs: number;
}

interface DocEditArgs {
  readonly docId?: string;
  readonly op: 'insert' | 'replace' | 'append';
  readonly text: string;
  readonly at?: number;
  readonly find?: string;
  readonly root?: string;
  readonly rootType?: TextRootType;
}

/** The plain-text view of the root being edited, with its three edits. */
interface TextTarget {
  readonly length: () => number;
  readonly text: () => string;
  readonly insert: (at: number, text: string) => void;
  readonly replace: (at: number, remove: number, text: string) => void;
  readonly append: (text: string) => void;
}

function textTarget(doc: Y.Doc, root: string, type: TextRootType): TextTarget {
  if (type === 'text') {
    const ytext = doc.getText(root);
    return {
      length: () => ytext.length,
      text: () => ytext.toString(),
      insert: (at, text) => ytext.insert(at, text),
      replace: (at, remove, text) => {
        ytext.delete(at, remove);
        ytext.insert(at, text);
      },
      append: (text) => ytext.insert(ytext.length, text),
    };
  }
  const fragment = doc.getXmlFragment(root);
  return {
    length: () => blocksText(fragment).length,
    text: () => blocksText(fragment),
    insert: (at, text) => editBlocks(fragment, at, 0, text),
    replace: (at, remove, text) => editBlocks(fragment, at, remove, text),
    append: (text) => appendBlocks(fragment, text),
  };
}

/** The Yjs client id of one doc_edit call of an agent session. */
export function clientIdForEdit(sessionId: string, callId: string): number {
  return clientIdForJob(`agent:${sessionId}:${callId}`);
}

export function docEditTool(deps: DocEditDeps): RunnableTool {
  const queues = new Map<string, Promise<unknown>>();
  return {
    descriptor: {
      name: 'doc_edit',
      description:
        'Edits a text document live, as a visible collaborator. op `append` adds text at the end; `insert` puts it at character offset `at`; ' +
        '`replace` replaces the first occurrence of `find` with `text` (empty `text` deletes it). Needs editor rights.',
      parameters: {
        type: 'object',
        properties: {
          docId: DOC_ID_PARAMETER,
          op: { type: 'string', enum: ['insert', 'replace', 'append'] },
          text: { type: 'string', maxLength: deps.maxTextChars },
          at: { type: 'integer', minimum: 0, description: 'Character offset for insert (UTF-16 units, as the document counts)' },
          find: { type: 'string', minLength: 1, maxLength: deps.maxTextChars, description: 'Text to replace (replace only)' },
          root: { type: 'string', minLength: 1, maxLength: 100, description: 'Text root to edit; defaults to the document\'s only text root, else "content"' },
          rootType: {
            type: 'string',
            enum: ['text', 'xml'],
            description: 'How to edit the root: `text` (Y.Text) or `xml` (paragraphs, as TipTap edits it); defaults to what the root holds, else `text`',
          },
        },
        required: ['op', 'text'],
        additionalProperties: false,
      },
      timeoutMs: deps.timeoutMs,
      needsApproval: false,
      source: 'builtin',
    },
    async run(raw: unknown, call: ToolInvocation): Promise<string> {
      const args = raw as DocEditArgs;
      if (args.op === 'insert' && args.at === undefined) throw new ToolFailure('invalid-arguments', 'arguments/at: required for op insert');
      if (args.op === 'replace' && args.find === undefined) throw new ToolFailure('invalid-arguments', 'arguments/find: required for op replace');
      const id = targetDoc(args.docId, call);
      if (deps.access === 'members') await deps.documents.authorize(ownerPrincipal(call.ownerId), id, 'editor', 'docs:write');
      // One edit of a session at a time, in the order the calls started.
      const previous = queues.get(call.sessionId) ?? Promise.resolve();
      const mine = previous.catch(() => undefined).then(() => edit(deps.writer, id, args, call));
      queues.set(call.sessionId, mine);
      try {
        return await mine;
      } finally {
        if (queues.get(call.sessionId) === mine) queues.delete(call.sessionId);
      }
    },
  };
}

async function edit(writer: DocumentWriter, id: DocId, args: DocEditArgs, call: ToolInvocation): Promise<string> {
  call.signal.throwIfAborted();
  const clientId = clientIdForEdit(call.sessionId, call.callId);
  const doc = new Y.Doc({ gc: false });
  try {
    Y.applyUpdate(doc, await writer.sync(id, new Uint8Array(0), call.signal));
    const { root, type } = pickTextRoot(doc, args.root, args.rootType);
    const target = textTarget(doc, root, type);
    if (Y.getState(doc.store, clientId) > 0) {
      // An earlier run of this very call wrote its text before its host died.
      const deleted = args.op === 'replace' ? (args.find ?? '').length : 0;
      return JSON.stringify({ docId: id, root, rootType: type, op: args.op, inserted: args.text.length, deleted, length: target.length(), retried: true });
    }
    // Applying an update that holds this client's own items makes Yjs pick a fresh id (it assumes a clash); this call is that id's only writer.
    doc.clientID = clientId;
    const before = Y.encodeStateVector(doc);
    let deleted = 0;
    try {
      doc.transact(() => {
        switch (args.op) {
          case 'append':
            target.append(args.text);
            break;
          case 'insert': {
            const at = args.at ?? 0;
            if (at > target.length()) throw new ToolFailure('invalid-arguments', `arguments/at: ${at} is past the end of the text (${target.length()} characters)`);
            target.insert(at, args.text);
            break;
          }
          case 'replace': {
            const find = args.find ?? '';
            const at = target.text().indexOf(find);
            if (at < 0) throw new ToolFailure('not-found', `arguments/find: the text does not occur in root ${JSON.stringify(root)}`);
            target.replace(at, find.length, args.text);
            deleted = find.length;
            break;
          }
          default: {
            const never: never = args.op;
            throw new ToolFailure('invalid-arguments', `arguments/op: unknown op ${String(never)}`);
          }
        }
      });
    } catch (err) {
      if (err instanceof TextBlockError) throw new ToolFailure('failed', err.message, { cause: err });
      throw err;
    }
    call.signal.throwIfAborted();
    await writer.update(id, Y.encodeStateAsUpdate(doc, before), call.signal, `agent:${call.sessionId}`);
    return JSON.stringify({ docId: id, root, rootType: type, op: args.op, inserted: args.text.length, deleted, length: target.length() });
  } finally {
    doc.destroy();
  }
}
