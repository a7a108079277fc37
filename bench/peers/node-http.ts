/**
 * The floor (issue #10): a bare node:http server with the same open route as Bastion.
 * Anything else is 404.
 */
import { createServer } from 'node:http';

const OPEN = JSON.stringify({ message: 'This is unsecured data: anyone may read it.' });

createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/unsecure') {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(OPEN) });
    res.end(OPEN);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
  res.end('{"code":"not_found","message":"Not found"}');
}).listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
