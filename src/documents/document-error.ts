/**
 * What the documents API refuses, by stable code (src/http/errors.ts gives
 * each kind its status):
 * - `not-found`: no such live document; `user-not-found`, `member-not-found`: named user unknown or not a member
 * - `not-a-member`, `role-required`: the caller's role does not allow it (forbidden)
 * - `document-exists`: the id is or was taken; `owner-fixed`: the creator's role cannot change (conflict)
 */
import { type FailureKind, ServiceError } from '../errors/index.ts';

/** Stable codes of {@link DocumentError}. */
export type DocumentErrorCode = 'not-found' | 'user-not-found' | 'member-not-found' | 'not-a-member' | 'role-required' | 'document-exists' | 'owner-fixed';

const KIND: Record<DocumentErrorCode, FailureKind> = {
  'not-found': 'not-found',
  'user-not-found': 'not-found',
  'member-not-found': 'not-found',
  'not-a-member': 'forbidden',
  'role-required': 'forbidden',
  'document-exists': 'conflict',
  'owner-fixed': 'conflict',
};

/** A refused documents operation; public, with a message that says why. */
export class DocumentError extends ServiceError {
  override readonly name = 'DocumentError';
  declare readonly code: DocumentErrorCode;
  constructor(code: DocumentErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(KIND[code], code, message, options);
  }
}
