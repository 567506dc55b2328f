// The WebSocket peer for scripts/bench: Node's ws (Debian node-ws) echoing every message.
// Usage: node ws-echo-server.js PORT   (prints "listening PORT" once ready)
const { WebSocketServer } = require('/usr/share/nodejs/ws');
const server = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] || 0), perMessageDeflate: false });
server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
server.on('listening', () => console.log(`listening ${server.address().port}`));
