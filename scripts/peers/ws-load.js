// WebSocket echo load for scripts/bench: C connections, each sending N messages of SIZE bytes one
// at a time and waiting for the echo (round trips). Bounded by count; prints one JSON line.
// Usage: node ws-load.js URL CONNECTIONS MESSAGES_PER_CONNECTION SIZE
const WebSocket = require('/usr/share/nodejs/ws');
const [url, c, n, size] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5] || 32)];
const payload = Buffer.alloc(size, 120);
const latencies = [];
let done = 0;
let start;
function finish() {
  const seconds = (process.hrtime.bigint() - start) / 1000n;
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(JSON.stringify({ roundTrips: latencies.length, perSecond: Math.round(latencies.length / (Number(seconds) / 1e6)),
    p50us: pick(0.5), p99us: pick(0.99) }));
  process.exit(0);
}
let open = 0;
const sockets = [];
for (let i = 0; i < c; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => { if (++open === c) go(); });
  ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
}
function go() {
  start = process.hrtime.bigint();
  for (const ws of sockets) {
    let sent = 0, t0 = 0n;
    const next = () => { t0 = process.hrtime.bigint(); ws.send(payload); sent++; };
    ws.on('message', () => {
      latencies.push(Number((process.hrtime.bigint() - t0) / 1000n));
      if (sent < n) next(); else { ws.close(); if (++done === c) finish(); }
    });
    next();
  }
}
setTimeout(() => { console.error('ws-load: timed out'); process.exit(1); }, 120000);
