/**
 * Who a built-in tool acts as and on which document: the session owner, as
 * a user with every scope (the owner's role on each document is what limits
 * the agent, exactly as it limits the owner), and the document the call
 * names or else the one the session is attached to.
 */
import { type DocId, parseActorId } from '../../../protocol/ids.ts';
import { API_SCOPES, type Principal } from '../../auth/index.ts';
import type { ToolInvocation } from '../runnable-tool.ts';
import { ToolFailure } from '../tool-failure.ts';

/** The session owner as the documents and uploads services see a signed-in user. */
export function ownerPrincipal(ownerId: string): Principal {
  return { kind: 'user', userId: ownerId, keyId: undefined, scopes: new Set(API_SCOPES) };
}

/** JSON Schema of the optional `docId` argument the document tools share. */
export const DOC_ID_PARAMETER = {
  type: 'string',
  minLength: 1,
  maxLength: 200,
  description: "The document's id; defaults to the document this session works on",
} as const;

/**
 * The document a call is about.
 * @throws ToolFailure `invalid-arguments` when neither the call nor the session names one, or the id is malformed.
 */
export function targetDoc(docId: string | undefined, call: ToolInvocation): DocId {
  const raw = docId ?? call.docId;
  if (raw === undefined) throw new ToolFailure('invalid-arguments', 'arguments/docId: required (this session has no document of its own)');
  try {
    return parseActorId(raw);
  } catch (err) {
    throw new ToolFailure('invalid-arguments', `arguments/docId: ${(err as Error).message}`, { cause: err });
  }
}
