/** Per-connection limits of the collaboration gateway; values come from config. */
export interface GatewayLimits {
  readonly maxFrameBytes: number;
  /** A socket whose unsent bytes exceed this is a slow consumer and is closed. */
  readonly maxBufferedBytes: number;
  readonly heartbeatMs: number;
  /** Updates in flight per connection before the socket stops being read. */
  readonly maxInFlight: number;
}
