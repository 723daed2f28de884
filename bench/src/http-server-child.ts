/**
 * The `http` benchmark's server, run in its own process so its work does not share the clients' event
 * loop: a keep-alive node:http server on 127.0.0.1 answering every request with a small JSON body.
 * Prints its port on stdout, exits when stdin closes (the parent went away).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from('{"id":42,"name":"Ada Lovelace","ok":true}');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
