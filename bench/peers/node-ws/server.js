'use strict';
// Peer server for ringcast's bench suite (bench/run --peer node), written the way the ws
// documentation shows: one process, one event loop, no native add-ons.
//
//   GET  /health          200 "ok" (the suite waits for it)
//   WS   /echo            every message comes back with the same opcode and payload
//   WS   /raw/{channel}   every message goes verbatim to every subscriber of the channel,
//                         the sender included (ringcast's --raw-channels contract)
//
// Usage: node server.js [PORT]   (else $PORT, else 8080; $HOST, else 127.0.0.1)
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 8080);
const host = process.env.HOST || '127.0.0.1';

// Same limits as ringcast's defaults where ws has a knob for them; no compression, as ringcast
// negotiates none.
const wss = new WebSocketServer({
  noServer: true,
  clientTracking: false,
  perMessageDeflate: false,
  maxPayload: 1024 * 1024,
});

const channels = new Map(); // channel name -> Set of subscribed sockets

function subscribe(ws, name) {
  let subs = channels.get(name);
  if (!subs) {
    subs = new Set();
    channels.set(name, subs);
  }
  subs.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const sub of subs) {
      if (sub.readyState === WebSocket.OPEN) sub.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    subs.delete(ws);
    if (subs.size === 0 && channels.get(name) === subs) channels.delete(name);
  });
}

function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(404);
  res.end();
});

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  let route = null;
  if (path === '/echo') route = echo;
  else if (path.startsWith('/raw/') && path.length > 5) {
    const name = decodeURIComponent(path.slice(5));
    route = (ws) => subscribe(ws, name);
  }
  if (!route) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  socket.setNoDelay(true);
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => ws.terminate());
    route(ws);
  });
});

server.listen(port, host, () => {
  const wsVersion = require('ws/package.json').version;
  console.error(`node-ws peer: listening on ${host}:${port} (ws ${wsVersion}, node ${process.version})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
