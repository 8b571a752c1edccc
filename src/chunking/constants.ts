/** Chunked transfer limits (DESIGN.md §3, issue "chunked transfer"; budgets: issue 10); all configurable. */

/** Largest message delivered whole (buffered); larger ones must be received as a stream. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/** Largest streamed message accepted (2^53 − 1 is what the header can carry). */
export const DEFAULT_MAX_STREAM_SIZE = Number.MAX_SAFE_INTEGER;
/** Chunked messages being received at once on one session. */
export const DEFAULT_MAX_CONCURRENT_REASSEMBLIES = 4;
/** A chunked message whose next chunk does not arrive within this is abandoned. */
export const DEFAULT_REASSEMBLY_TIMEOUT_MS = 30_000;
/**
 * The whole message must arrive within the idle timeout plus its size at this rate (bytes/s):
 * 64 MiB gets 30 s + 256 s, 1 MiB 30 s + 4 s. A trickle that keeps the idle timer happy still
 * lets go of its memory by then.
 */
export const DEFAULT_MIN_TRANSFER_RATE = 256 * 1024;
/**
 * What a buffered message is charged at least, from its chunk 0 (its later chunks use it up
 * first): one record's worth. A chunk 0 cut tiny (many 1-byte chunks trade against the bitmap:
 * at best ~6 KiB for 64 MiB announced) cannot then start tens of thousands of messages, each an
 * allocation (a memory mapping) of the announced size, within one budget.
 */
export const DEFAULT_MIN_RESERVATION = 64 * 1024;
/** Reassembly memory one peer may hold across its sessions. */
export const DEFAULT_PEER_REASSEMBLY_BYTES = 128 * 1024 * 1024;
/**
 * Reassembly memory all peers whose key is not pinned may hold together (per Peer): a quarter
 * of the process budget, so pinned peers keep 384 MiB whatever strangers do.
 */
export const DEFAULT_UNPINNED_REASSEMBLY_BYTES = 128 * 1024 * 1024;
/**
 * Reassembly memory unpinned peers from one address prefix (IPv4 /32, IPv6 /64) may hold
 * together: one message of the maximum size and 8 MiB more, so one prefix cannot take the
 * whole unpinned budget.
 */
export const DEFAULT_PREFIX_REASSEMBLY_BYTES = 72 * 1024 * 1024;
/** Reassembly memory the whole process may hold. */
export const DEFAULT_PROCESS_REASSEMBLY_BYTES = 512 * 1024 * 1024;
/** Messages above this are delivered as a stream unless the receiver asks otherwise. */
export const DEFAULT_STREAM_THRESHOLD = DEFAULT_MAX_MESSAGE_SIZE;
/** Bytes of one chunk's plaintext before its payload: the message type. */
export const CHUNK_PREFIX_BYTES = 1;
