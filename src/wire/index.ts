export * from './constants.js';
export { encodeRecordHeader, decodeRecordHeader, recordHeaderLength, type RecordHeader, type RecordType, type ChunkFields } from './header.js';
export { Deframer, encodeFrame, releaseFrame, type DeframerOptions } from './deframer.js';
export { ByteReader, ByteWriter } from './reader.js';
export { MESSAGE_TYPES, messageTypeId, messageTypeName, isMessageType, rateClassOf, type MessageType, type RateClass } from './message-types.js';
