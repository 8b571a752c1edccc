/**
 * 64-bit wire fields as JS numbers. Values must stay below 2^53 so they are exact; a peer
 * claiming more is MALFORMED_FRAME, a local caller passing more is INVALID_ARGUMENT.
 */
import { ErrorCode, PeerError } from '../errors.js';

const TWO_POW_32 = 2 ** 32;
/** The high word of 2^53. */
const HI_LIMIT = 2 ** 21;

export function readU64(view: DataView, at: number, name: string): number {
  const hi = view.getUint32(at);
  if (hi >= HI_LIMIT) throw new PeerError(ErrorCode.MALFORMED_FRAME, `${name} is 2^53 or more`);
  return hi * TWO_POW_32 + view.getUint32(at + 4);
}

export function writeU64(view: DataView, at: number, value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `${name} must be an integer in [0, 2^53)`);
  }
  view.setUint32(at, Math.floor(value / TWO_POW_32));
  view.setUint32(at + 4, value >>> 0);
}
