import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { problemResponse } from './problem.ts';
import { encodeResponse } from './respond.ts';
import { lingerClose } from './unread-upload.ts';

/**
 * Answers what Node's parser refused before any handler saw it, as RFC 9457 problems: 431 for headers
 * too large or too many, 408 for a request not received in time, 400 for anything malformed. Install as
 * the server's only `clientError` listener.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const response = (socket as { _httpMessage?: ServerResponse })._httpMessage;
  if (!socket.writable || error.code === 'ECONNRESET' || response?.headersSent === true) {
    socket.destroy();
    return;
  }
  const [status, reason, title] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request timeout']
        : [400, 'Bad Request', 'malformed request'];
  const field = status === 408 ? undefined : 'headers';
  const detail = status === 408 ? 'the request was not received in time' : undefined;
  const encoded = encodeResponse(
    problemResponse({
      status,
      title,
      ...(detail === undefined ? {} : { detail }),
      ...(field === undefined ? {} : { field }),
    }),
  );
  socket.write(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/problem+json\r\n` +
      `content-length: ${encoded.body.length}\r\nconnection: close\r\n\r\n`,
  );
  socket.write(encoded.body);
  lingerClose(socket);
}
