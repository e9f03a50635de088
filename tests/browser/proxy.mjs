// A TCP proxy that delays every chunk in both directions by a fixed latency plus uniform jitter,
// keeping order (as TCP does), so a browser talks HTTP and WebSocket to rally as if over a slow
// link. With `stallRate`, that share of chunks is held a further `stallMs` (uniform in the range):
// what TCP does after a lost segment (the retransmission, and everything behind it, arrives late —
// head-of-line blocking). It stands in for `tc netem` (delay, jitter, loss), which this machine's
// kernel lacks (no sch_netem: "Specified qdisc kind is unknown"). dropAll() cuts every connection,
// like a network failure.

import net from 'node:net';

/**
 * @param {{target:{host:string, port:number}, delayMs:number, jitterMs:number, stallRate?:number, stallMs?:[number, number], random?:() => number}} o
 * @returns {Promise<{port:number, dropAll:() => void, close:() => Promise<void>, stats:{chunks:number, stalls:number, maxDelay:number, minDelay:number}}>}
 */
export function startDelayProxy(o) {
  const random = o.random ?? Math.random;
  const sockets = new Set();
  const stats = { chunks: 0, stalls: 0, maxDelay: 0, minDelay: Infinity };
  const [stallMin, stallMax] = o.stallMs ?? [100, 200];
  const pipe = (from, to) => {
    let last = 0;
    from.on('data', (chunk) => {
      const now = performance.now();
      let delay = o.delayMs + (random() * 2 - 1) * o.jitterMs;
      if (o.stallRate && random() < o.stallRate) {
        delay += stallMin + random() * (stallMax - stallMin);
        stats.stalls++;
      }
      const at = Math.max(last, now + delay);
      last = at;
      stats.chunks++;
      stats.maxDelay = Math.max(stats.maxDelay, at - now);
      stats.minDelay = Math.min(stats.minDelay, at - now);
      setTimeout(() => { if (!to.destroyed) to.write(chunk); }, at - now);
    });
    from.on('end', () => setTimeout(() => to.end(), Math.max(0, last - performance.now()) + 1));
    from.on('error', () => to.destroy());
    from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, last - performance.now()) + 5));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(o.target.port, o.target.host);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    pipe(client, upstream);
    pipe(upstream, client);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = /** @type {net.AddressInfo} */ (server.address());
      resolve({
        port: addr.port,
        stats,
        dropAll: () => { for (const s of sockets) s.destroy(); },
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}
