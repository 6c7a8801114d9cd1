/**
 * The stable pseudonym of a deleted account: one random uuid per deletion,
 * written in one transaction over every audit entry that named the person
 * (ids in uuid columns, the label in free text) and into the account row's
 * email. Entries of one person stay linkable to each other, and to nobody:
 * the pseudonym is random, not derived from the id or the email, so it
 * cannot be recomputed from either.
 */
import { randomUUID } from 'node:crypto';

/** Domain of the email addresses of deleted accounts (`.invalid` never resolves, RFC 2606). */
export const DELETED_EMAIL_DOMAIN = 'deleted.invalid';

export interface Pseudonym {
  /** Stands for the user id in uuid columns (audit actor and target). */
  readonly id: string;
  /** Stands for the user's id and email in free text (audit details). */
  readonly label: string;
  /** The anonymised account row's email: unique, never deliverable, never the old address. */
  readonly email: string;
}

export function newPseudonym(): Pseudonym {
  const id = randomUUID();
  const label = `deleted-user-${id}`;
  return { id, label, email: `${label}@${DELETED_EMAIL_DOMAIN}` };
}

/** Whether an account row was anonymised by a deletion. */
export function isDeletedEmail(email: string): boolean {
  return email.toLowerCase().endsWith(`@${DELETED_EMAIL_DOMAIN}`);
}
