/** Chunked transfer limits (DESIGN.md §3, issue "chunked transfer"); all configurable. */

/** Largest message delivered whole (buffered); larger ones must be received as a stream. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/** Largest streamed message accepted (2^53 − 1 is what the header can carry). */
export const DEFAULT_MAX_STREAM_SIZE = Number.MAX_SAFE_INTEGER;
/** Chunked messages being received at once on one session. */
export const DEFAULT_MAX_CONCURRENT_REASSEMBLIES = 4;
/** A chunked message whose next chunk does not arrive within this is abandoned. */
export const DEFAULT_REASSEMBLY_TIMEOUT_MS = 30_000;
/** Reassembly memory one peer may hold across its sessions. */
export const DEFAULT_PEER_REASSEMBLY_BYTES = 128 * 1024 * 1024;
/** Reassembly memory the whole process may hold. */
export const DEFAULT_PROCESS_REASSEMBLY_BYTES = 512 * 1024 * 1024;
/** Messages above this are delivered as a stream unless the receiver asks otherwise. */
export const DEFAULT_STREAM_THRESHOLD = DEFAULT_MAX_MESSAGE_SIZE;
/** Bytes of one chunk's plaintext before its payload: the message type. */
export const CHUNK_PREFIX_BYTES = 1;
