export * from './constants.js';
export { encodeRecordHeader, decodeRecordHeader, recordHeaderLength, type RecordHeader, type RecordType, type ChunkFields } from './header.js';
export { Deframer, encodeFrame, type DeframerOptions } from './deframer.js';
export { ByteReader, ByteWriter } from './reader.js';
