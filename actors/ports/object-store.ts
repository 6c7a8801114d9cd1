/**
 * What a job needs from object storage, declared by its consumer (the job
 * actor) and implemented by adapters in src/storage/objects/ (filesystem,
 * S3). The full ObjectStore there extends this with deletion and presigned
 * URLs, so one adapter instance serves both. Keys follow ./object-key.ts;
 * adapters reject any other key with InvalidObjectKeyError.
 */
import type { Readable } from 'node:stream';

/** What a stored object is, without its bytes. */
export interface ObjectInfo {
  readonly key: string;
  /** Bytes. */
  readonly size: number;
  /** Opaque version tag: changes when the content changes (MD5 hex for single-part writes). */
  readonly etag: string;
  readonly contentType: string;
  /** User metadata; keys lowercase `[a-z0-9-]`, values printable ASCII. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly lastModified: Date;
}

/** Options of a write. */
export interface PutOptions {
  /** Stored and served back as `Content-Type`. */
  readonly contentType: string;
  /** User metadata (at most 2 KiB in all); see {@link ObjectInfo.metadata} for the allowed spelling. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Refuse (ObjectTooLargeError, nothing stored) once the body passes this many bytes. */
  readonly maxBytes?: number;
}

/** The outcome of a write. */
export interface PutResult {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
}

/** `existing` is true when the key was already there and nothing was written; `size`/`etag` then describe the stored object. */
export interface PutIfAbsentResult extends PutResult {
  readonly existing: boolean;
}

/** An object being read: its description and a stream of its bytes (the caller must consume or destroy it). */
export interface ObjectRead {
  readonly info: ObjectInfo;
  readonly body: Readable;
}

/** Body of a write: bytes in memory, or a stream read to its end. */
export type ObjectBody = Uint8Array | Readable;

/** The slice of object storage the job engine writes artifacts through. */
export interface ArtifactStore {
  /**
   * Stores `body` under `key`, replacing what was there; readers see the old
   * or the new object, never a mix.
   * @throws InvalidObjectKeyError, ObjectTooLargeError, ObjectStoreError
   */
  put(key: string, body: ObjectBody, opts: PutOptions): Promise<PutResult>;
  /**
   * Stores `body` only if nothing is stored under `key` yet; otherwise leaves
   * the stored object alone and returns it with `existing: true`. With a
   * deterministic key (artifactKey) this makes a retried step's write
   * idempotent. A stream body may be left unread when the key exists.
   * @throws InvalidObjectKeyError, ObjectTooLargeError, ObjectStoreError
   */
  putIfAbsent(key: string, body: ObjectBody, opts: PutOptions): Promise<PutIfAbsentResult>;
  /** The object, or null when there is none. @throws InvalidObjectKeyError, ObjectStoreError */
  get(key: string): Promise<ObjectRead | null>;
  /** The object's description, or null when there is none. @throws InvalidObjectKeyError, ObjectStoreError */
  stat(key: string): Promise<ObjectInfo | null>;
}

/** Thrown by a write whose body passed `PutOptions.maxBytes`; nothing was stored. Public: the sender's body was too big. */
export class ObjectTooLargeError extends Error {
  override readonly name = 'ObjectTooLargeError';
  readonly code = 'object-too-large';
  readonly public = true;
  constructor(
    readonly key: string,
    readonly maxBytes: number,
    options?: { cause?: unknown },
  ) {
    super(`object ${key} is larger than ${maxBytes} bytes`, options);
  }
}
