import { connect } from 'node:net';

/** What a faulty client saw: the bytes the server sent, and how the connection ended. */
export interface FaultOutcome {
  /** Everything the server wrote, as text. */
  readonly text: string;
  /** The server closed (or reset) the connection before the client's bound ran out. */
  readonly serverClosed: boolean;
  /** The connection failed with this error code (e.g. `ECONNRESET`, `EPIPE`). */
  readonly errorCode: string | undefined;
}

/** Options of {@link slowRequest}. */
export interface SlowRequestOptions {
  /** Sent at once. */
  readonly head: string;
  /** Then sent one byte per `intervalMs`, looping over the text, until the server answers or closes. */
  readonly trickle: string;
  /** Defaults to 100. */
  readonly intervalMs?: number;
  /** The client gives up after this long, in ms. Defaults to 10,000. */
  readonly boundMs?: number;
}

/**
 * A slow client (slow headers, slow body): sends `head`, then `trickle` a byte at a time, and reports
 * what the server answered and whether it closed the connection within the bound.
 */
export function slowRequest(address: string, options: SlowRequestOptions): Promise<FaultOutcome> {
  const { head, trickle, intervalMs = 100, boundMs = 10_000 } = options;
  return exchange(address, boundMs, (socket, stopped) => {
    socket.write(head);
    let i = 0;
    const timer = setInterval(() => {
      if (stopped.answered()) clearInterval(timer);
      else socket.write(trickle[i++ % trickle.length]!);
    }, intervalMs);
    return () => clearInterval(timer);
  });
}

/** Options of {@link resetMidRequest}. */
export interface ResetMidRequestOptions {
  /** Body bytes declared in `content-length`; half of them are sent before the reset. Defaults to 1,000. */
  readonly bytes?: number;
  /** Defaults to `/`. */
  readonly path?: string;
  /** The client gives up after this long, in ms. Defaults to 10,000. */
  readonly boundMs?: number;
}

/**
 * A client that resets its connection in the middle of a request body (a crash or a cut network): sends
 * the head and half the declared body, then an RST. Reports what the server sent before the reset.
 */
export function resetMidRequest(
  address: string,
  options: ResetMidRequestOptions = {},
): Promise<FaultOutcome> {
  const { bytes = 1_000, path = '/', boundMs = 10_000 } = options;
  return exchange(address, boundMs, (socket) => {
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${bytes}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(Math.floor(bytes / 2), 0x20), () => socket.resetAndDestroy());
    return () => {};
  });
}

/** Options of {@link oversizeUpload}. */
export interface OversizeUploadOptions {
  /** Bytes declared in `content-length` and sent, as fast as the connection takes them. */
  readonly bytes: number;
  /** Defaults to `/`. */
  readonly path?: string;
  /** The client gives up after this long, in ms. Defaults to 10,000. */
  readonly boundMs?: number;
}

/**
 * An oversize upload, sent the way curl does: declares `bytes` of JSON body and keeps writing it, answer
 * or not, until it is all sent or the connection fails; reports what the client could read (a reset can
 * wipe the answer before it is read).
 */
export function oversizeUpload(address: string, options: OversizeUploadOptions): Promise<FaultOutcome> {
  const { bytes, path = '/', boundMs = 10_000 } = options;
  const chunk = Buffer.alloc(65_536, 0x20);
  return exchange(address, boundMs, (socket, stopped) => {
    const writing = (): boolean => !stopped.gaveUp() && !socket.destroyed;
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${bytes}\r\n\r\n`,
    );
    let sent = 0;
    const pump = (): void => {
      while (writing() && sent < bytes) {
        const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
        sent += part.length;
        if (!socket.write(part)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
    return () => {};
  });
}

interface Progress {
  /** The server answered, the client gave up or the connection is gone. */
  answered(): boolean;
  gaveUp(): boolean;
}

function exchange(
  address: string,
  boundMs: number,
  drive: (socket: ReturnType<typeof connect>, stopped: Progress) => () => void,
): Promise<FaultOutcome> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = connect(Number(port), host);
    const chunks: Buffer[] = [];
    let answered = false;
    let gaveUp = false;
    let errorCode: string | undefined;
    const timer = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, boundMs);
    socket.on('data', (chunk) => {
      answered = true;
      chunks.push(chunk);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      errorCode = error.code;
    });
    socket.on('end', () => socket.end());
    let stop = (): void => {};
    socket.once('connect', () => {
      stop = drive(socket, {
        answered: () => answered || gaveUp || socket.destroyed,
        gaveUp: () => gaveUp,
      });
    });
    socket.on('close', () => {
      clearTimeout(timer);
      stop();
      resolve({ text: Buffer.concat(chunks).toString('utf8'), serverClosed: !gaveUp, errorCode });
    });
  });
}
