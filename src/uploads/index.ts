/** uploads/: files clients upload as job inputs; the service the uploads routes and the job engine use. */
export { UploadService, safeFilename, isValidFilename } from './upload-service.ts';
export type { CreatedUpload, NewUpload, ResolvedUpload, UploadServiceOptions, UploadView } from './upload-service.ts';
export { UploadError, type UploadErrorCode } from './upload-error.ts';
export { ALLOWED_UPLOAD_TYPES, isAllowedUploadType, mediaTypeOf } from './content-types.ts';
