// OCPP 1.6J stations written with an independent implementation, the npm package
// `ocpp-rpc` (the one tests/node uses; none of the server's code), for
// bench/bench_embedded.py: every station connects, boots (BootNotification,
// StatusNotification), then sends a Heartbeat every --interval ms for --duration ms,
// the stations' heartbeats spread evenly over the interval. A heartbeat's latency runs
// from the moment it is due to its answer (a late answer delays the station's next
// call: ocpp-rpc sends one call at a time per station, as a station does).
//
// strictMode: our calls and the server's answers are validated against ocpp-rpc's own
// OCPP 1.6 schemas, so a malformed answer counts as an error.
//
//   node bench/ocpp_rpc_heartbeats.mjs --url ws://127.0.0.1:9000/ocpp --stations 1000 \
//       --prefix BENCH --password secret [--interval 1000] [--duration 30000]
//
// Markers on stderr: "phase booted", "phase sustained" (bench_embedded.py samples the
// server's CPU at each). Result: one JSON object on stdout.

import { createRequire } from 'node:module';

// ocpp-rpc is installed in tests/node (`make node`) and resolved from there, or from the
// folder OCPP_RPC_DIR names (one holding node_modules/ocpp-rpc).
const require = createRequire(process.env.OCPP_RPC_DIR ? `${process.env.OCPP_RPC_DIR}/package.json`
  : new URL('../tests/node/package.json', import.meta.url));
const { RPCClient } = require('ocpp-rpc');

const opts = { url: '', stations: 1000, prefix: 'BENCH', password: '', interval: 1000, duration: 30000,
  connectConcurrency: 50, timeout: 30000 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '').replace(/-(.)/g, (_, c) => c.toUpperCase());
  if (!(key in opts)) { console.error(`unknown option ${process.argv[i]}`); process.exit(2); }
  opts[key] = typeof opts[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (!opts.url) { console.error('--url is required'); process.exit(2); }

const errors = {};
const fail = (what) => { errors[what] = (errors[what] || 0) + 1; };
const latencies = [];
const lastAcked = {};  // station id -> wall-clock ms its last answered heartbeat was sent
const now = () => Number(process.hrtime.bigint()) / 1e6;
let sent = 0;

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
}

async function boot(id) {
  const client = new RPCClient({
    endpoint: opts.url, identity: id, password: opts.password, protocols: ['ocpp1.6'], strictMode: true,
    reconnect: false, callTimeoutMs: opts.timeout,
  });
  client.handle(({ method }) => {  // the CSMS's own calls (local list version at connection)
    if (method === 'GetLocalListVersion') return { listVersion: 0 };
    if (method === 'GetConfiguration') return { configurationKey: [] };
    return { status: 'Accepted' };
  });
  try {
    await client.connect();
    await client.call('BootNotification', { chargePointVendor: 'Bench', chargePointModel: 'RPC-1', chargePointSerialNumber: id });
    await client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available',
      timestamp: new Date().toISOString() });
    return client;
  } catch (err) {
    fail(`boot: ${err.name || err.message}`);
    client.close({ force: true }).catch(() => {});
    return null;
  }
}

async function heartbeats(id, client, offset, end) {
  let due = performance.now() + offset;
  while (due < end) {
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const wall = Date.now();
    sent += 1;
    try {
      const answer = await client.call('Heartbeat', {});
      latencies.push(performance.now() - due);
      if (typeof answer.currentTime !== 'string') fail('Heartbeat answer without currentTime');
      lastAcked[id] = wall;
    } catch (err) {
      fail(`Heartbeat: ${err.name || err.message}`);
    }
    due += opts.interval;
  }
}

const ids = Array.from({ length: opts.stations }, (_, i) => `${opts.prefix}${String(i).padStart(5, '0')}`);
const t0 = now();
const clients = new Array(ids.length).fill(null);
let next = 0;
await Promise.all(Array.from({ length: Math.min(opts.connectConcurrency, ids.length) }, async () => {
  while (next < ids.length) {
    const index = next++;
    clients[index] = await boot(ids[index]);
  }
}));
const bootSeconds = (now() - t0) / 1000;
process.stderr.write('phase booted\n');
const live = ids.map((id, i) => [id, clients[i]]).filter(([, c]) => c !== null);
const start = performance.now();
const end = start + opts.duration;
await Promise.all(live.map(([id, client], i) => heartbeats(id, client, (i * opts.interval) / live.length, end)));
const seconds = (performance.now() - start) / 1000;
process.stderr.write('phase sustained\n');
await Promise.all(live.map(([, client]) => client.close({ code: 1000 }).catch(() => {})));

const sorted = latencies.slice().sort((a, b) => a - b);
const round = (v) => (v === null ? null : Math.round(v * 100) / 100);
process.stdout.write(JSON.stringify({
  stations_requested: ids.length,
  stations_booted: live.length,
  boot_seconds: Math.round(bootSeconds * 100) / 100,
  heartbeats_sent: sent,
  heartbeats_answered: latencies.length,
  answered_per_s: Math.round((latencies.length / seconds) * 10) / 10,
  latency_ms: { p50: round(percentile(sorted, 0.5)), p95: round(percentile(sorted, 0.95)),
    p99: round(percentile(sorted, 0.99)), max: round(sorted.length ? sorted[sorted.length - 1] : null) },
  errors,
  heartbeat_acked_at: lastAcked,
}) + '\n');
process.exit(0);
