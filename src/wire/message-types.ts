/**
 * Application message types: one table for the wire id, the name (the spec's and v1.0's
 * msg_type strings) and the rate-limit class each counts against. The type travels inside
 * the sealed record, so an eavesdropper does not learn it.
 */
export type RateClass = 'handshake' | 'heartbeat' | 'task' | 'discovery' | 'chunk';

export const MESSAGE_TYPES = {
  ping: { id: 0x01, rateClass: 'heartbeat' },
  heartbeat: { id: 0x02, rateClass: 'heartbeat' },
  status: { id: 0x03, rateClass: 'heartbeat' },
  task: { id: 0x04, rateClass: 'task' },
  task_delegate: { id: 0x05, rateClass: 'task' },
  task_result: { id: 0x06, rateClass: 'task' },
  wake_up: { id: 0x07, rateClass: 'task' },
  capability: { id: 0x08, rateClass: 'discovery' },
  capability_query: { id: 0x09, rateClass: 'discovery' },
  capability_response: { id: 0x0a, rateClass: 'discovery' },
  discovery: { id: 0x0b, rateClass: 'discovery' },
  message: { id: 0x0c, rateClass: 'task' },
  // The offline queue's envelope and its acknowledgement (docs/QUEUE.md "Wire format").
  queued: { id: 0x20, rateClass: 'task' },
  queue_ack: { id: 0x21, rateClass: 'heartbeat' },
} as const satisfies Record<string, { id: number; rateClass: RateClass }>;

export type MessageType = keyof typeof MESSAGE_TYPES;

/** Name and rate class by wire id (0–255), as arrays: the receive path looks both up per message. */
const NAME_BY_ID: (MessageType | undefined)[] = new Array<MessageType | undefined>(256).fill(undefined);
const CLASS_BY_ID: RateClass[] = new Array<RateClass>(256).fill('task');
for (const name of Object.keys(MESSAGE_TYPES) as MessageType[]) {
  NAME_BY_ID[MESSAGE_TYPES[name].id] = name;
  CLASS_BY_ID[MESSAGE_TYPES[name].id] = MESSAGE_TYPES[name].rateClass;
}

export function messageTypeId(type: MessageType): number {
  return MESSAGE_TYPES[type].id;
}

/** The name for a wire id, or undefined for an id this version does not know. */
export function messageTypeName(id: number): MessageType | undefined {
  return NAME_BY_ID[id];
}

/** The rate class a message type counts against; application types (0x80–0xff) count as task. */
export function rateClassOf(id: number): RateClass {
  return CLASS_BY_ID[id] ?? 'task';
}

export function isMessageType(name: string): name is MessageType {
  return Object.hasOwn(MESSAGE_TYPES, name);
}
