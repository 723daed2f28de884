import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';

// After an answer sent before the upload ended (413, a refusal), at most this much more of the body is
// read so the connection can be kept; past it, or past the linger time, the connection is closed.
const uploadDrainBytes = 262_144;
// How long a closing connection keeps reading (and discarding) after its last answer, in ms: closing
// with unread bytes makes the kernel send a reset, which can wipe the answer before the client reads it.
const lingerMs = 1_000;

/**
 * Closes `socket` gently: sends FIN after what is queued, keeps reading and discarding what the client
 * still sends for up to a second, then closes. The client reads the answer before any reset.
 */
export function lingerClose(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  socket.once('close', () => clearTimeout(timer));
}

/**
 * Call once the answer to `raw` is on its way: when the client is still uploading, reads and discards
 * up to 256 KiB more of the body (then the connection can be kept), and otherwise closes it gently, so
 * the answer (a 413, a refusal) reaches the client instead of being wiped by a reset.
 */
export function discardUpload(raw: IncomingMessage): void {
  if (!uploadPending(raw) || raw.destroyed) return;
  let left = uploadDrainBytes;
  const socket = raw.socket;
  const cutOff = (): void => {
    clearTimeout(timer);
    raw.removeListener('data', onData);
    lingerClose(socket);
  };
  const onData = (chunk: Buffer): void => {
    left -= chunk.length;
    if (left < 0) cutOff();
  };
  const timer = setTimeout(cutOff, lingerMs);
  raw.once('end', () => clearTimeout(timer));
  raw.once('close', () => clearTimeout(timer));
  raw.on('data', onData);
  raw.resume();
}

/** `true` while the client may still be sending `raw`'s body: closing now would reset the connection. */
export function uploadPending(raw: IncomingMessage): boolean {
  // Without a socket (Fastify's inject()) the whole body was handed over at once.
  if (raw.complete || !(raw.socket instanceof Socket)) return false;
  const length = raw.headers['content-length'];
  return raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
