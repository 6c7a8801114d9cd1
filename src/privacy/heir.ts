/**
 * Who takes over a document when its creator deletes their account. The
 * rule (documented in README, "Account deletion"): the longest-standing
 * other owner; failing that, the longest-standing editor, who becomes its
 * owner; failing both (only viewers, or nobody), nobody: the document is
 * deleted. Viewers never inherit: they never could change the document, so
 * handing it to them would give rights nobody granted.
 */
import type { DocRole } from '../documents/index.ts';

/** A member as the rule sees it. */
export interface Candidate {
  readonly userId: string;
  readonly role: DocRole;
  readonly addedAt: Date;
}

/** The user who inherits the document, or null when it is to be deleted. */
export function chooseHeir(members: readonly Candidate[], leavingUserId: string): string | null {
  const others = members.filter((m) => m.userId !== leavingUserId);
  for (const role of ['owner', 'editor'] as const) {
    const eligible = others.filter((m) => m.role === role).sort((a, b) => a.addedAt.getTime() - b.addedAt.getTime() || a.userId.localeCompare(b.userId));
    if (eligible[0] !== undefined) return eligible[0].userId;
  }
  return null;
}
