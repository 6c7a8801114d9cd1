/**
 * privacy/: data protection. Account export (GET /v1/account/export) and
 * account deletion (DELETE /v1/account) for the gateway role, and the
 * retention purge the actors role runs (Config.privacy). The HTTP routes are
 * src/http/routes/account.ts.
 */
export { AccountExport, EXPORT_FORMAT, EXPORT_VERSION, type AccountExportDeps } from './account-export.ts';
export { AccountDeletion, type AccountDeletionDeps, type DeletionReport } from './account-deletion.ts';
export { createPrivacyServices, type PrivacyServices } from './create-privacy.ts';
export { chooseHeir, type Candidate } from './heir.ts';
export { removeJob, type JobRemoval, type JobRemovalDeps } from './job-removal.ts';
export { PrivacyError, type PrivacyErrorCode } from './privacy-error.ts';
export { DELETED_EMAIL_DOMAIN, isDeletedEmail, newPseudonym, type Pseudonym } from './pseudonym.ts';
export { RETENTION_LEASE_KEY, RetentionPurge, type RetentionPurgeOptions, type RetentionSweep } from './retention-purge.ts';
