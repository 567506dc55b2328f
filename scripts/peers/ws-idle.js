// Opens N WebSocket connections and holds them idle until stdin closes (for RSS per connection).
// Usage: node ws-idle.js URL N   (prints "ready" once all are open)
const WebSocket = require('/usr/share/nodejs/ws');
const [url, n] = [process.argv[2], Number(process.argv[3])];
let open = 0;
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('open', () => { if (++open === n) console.log('ready'); });
  ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), 120000);
