/**
 * The spec's nine session states plus CLOSED. Each of the first seven means "step N done" on
 * both sides: the sender enters it when it sends step N, the receiver when it accepts it.
 * The spec's short list (INIT → HANDSHAKE_SENT → ACTIVE → CLOSED) is the derived `phase`.
 */
export enum SessionState {
  Initial = 'INITIAL',
  HandshakeInitSent = 'HANDSHAKE_INIT_SENT',
  HandshakeAckReceived = 'HANDSHAKE_ACK_RECEIVED',
  ChallengeSent = 'CHALLENGE_SENT',
  SessionEstablished = 'SESSION_ESTABLISHED',
  SessionConfirmed = 'SESSION_CONFIRMED',
  Ready = 'READY',
  Error = 'ERROR',
  Expired = 'EXPIRED',
  Closed = 'CLOSED',
}

export type Phase = 'INIT' | 'HANDSHAKE_SENT' | 'ACTIVE' | 'CLOSED';

export function phaseOf(state: SessionState): Phase {
  switch (state) {
    case SessionState.Initial:
      return 'INIT';
    case SessionState.Ready:
      return 'ACTIVE';
    case SessionState.Error:
    case SessionState.Expired:
    case SessionState.Closed:
      return 'CLOSED';
    default:
      return 'HANDSHAKE_SENT';
  }
}

export function isTerminal(state: SessionState): boolean {
  return state === SessionState.Error || state === SessionState.Expired || state === SessionState.Closed;
}
