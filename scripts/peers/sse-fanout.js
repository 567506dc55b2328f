// The Node.js SSE peer of scripts/bench: GET /channels/ticks/sse subscribes to one ticker that,
// every 10 ms, publishes TICKS_PER_SECOND/100 events of 100 bytes whose data starts with the publish
// time in µs since the epoch; each tick is one write per subscriber. Prints "listening PORT".
// Usage: node sse-fanout.js PORT TICKS_PER_SECOND
const http = require('http');
const [port, rate] = [Number(process.argv[2] || 0), Number(process.argv[3] || 1000)];
const perTick = Math.floor(rate / 100);  // 0: no events (idle connections)
const subscribers = new Set();
let id = 0;
if (perTick > 0) setInterval(() => {
  let text = '';
  for (let i = 0; i < perTick; i++) {
    id++;
    const micros = Math.round((performance.timeOrigin + performance.now()) * 1000);
    const head = `id: ${id}\ndata: ${micros} `;
    text += head + 'x'.repeat(Math.max(0, 98 - head.length)) + '\n\n';
  }
  // A reader more than 1 MiB behind misses ticks rather than growing its buffer without bound.
  for (const res of subscribers) if (res.writableLength < 1 << 20) res.write(text);
}, 10);
const server = http.createServer((req, res) => {
  if (req.url.split('?')[0] !== '/channels/ticks/sse') { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.write(': ok\n\n');
  subscribers.add(res);
  req.on('close', () => subscribers.delete(res));
});
server.keepAliveTimeout = 0;
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
