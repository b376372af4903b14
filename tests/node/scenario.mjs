// An OCPP 1.6J charging station written with an independent implementation, the npm
// package `ocpp-rpc` (not the Python `ocpp` library the ingress is built on), driven
// against a running Centrale ingress by tests/csms/test_node_ocpp_rpc.py.
//
// strictMode: every call we send and every answer we get is validated against the
// OCPP 1.6 JSON schemas bundled with ocpp-rpc, so a malformed answer from the ingress
// fails the call.
//
// Usage: node scenario.mjs URL IDENTITY PASSWORD   (or OCPP_URL, OCPP_IDENTITY, OCPP_PASSWORD)
//   URL is the endpoint without the identity, e.g. ws://127.0.0.1:9000/ocpp
//   OCPP_WAIT_COMMAND_MS: after the scenario, wait that long for the remote command
//   OCPP_EXPECT_COMMAND (default GetConfiguration).
// Output: one JSON object per line on stdout: {"phase": "ready", ...} after the
// scenario, then {"phase": "done", ...} when the socket is closed.

import { RPCClient } from 'ocpp-rpc';

const [url, identity, password] = [
  process.argv[2] || process.env.OCPP_URL,
  process.argv[3] || process.env.OCPP_IDENTITY,
  process.argv[4] || process.env.OCPP_PASSWORD,
];
const waitCommandMs = Number(process.env.OCPP_WAIT_COMMAND_MS || 0);
// The command the test sends; calls the CSMS makes on its own (local list version at
// boot, charging profiles at a start) are answered and recorded too.
const expectedCommand = process.env.OCPP_EXPECT_COMMAND || 'GetConfiguration';
if (!url || !identity || !password) {
  console.error('usage: node scenario.mjs URL IDENTITY PASSWORD');
  process.exit(2);
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const iso = (ms) => new Date(ms).toISOString();

const client = new RPCClient({
  endpoint: url,
  identity,
  password,
  protocols: ['ocpp1.6'],
  strictMode: true,
  reconnect: false,
  callTimeoutMs: 20000,
});

// Remote commands the CSMS sends us: recorded and answered as a compliant station would.
const commands = [];
let commandSeen;
const commandArrived = new Promise((resolve) => { commandSeen = resolve; });
const answers = {
  Reset: () => ({ status: 'Accepted' }),
  GetConfiguration: ({ key }) => {
    const known = { HeartbeatInterval: '300', MeterValueSampleInterval: '60', NumberOfConnectors: '2' };
    const wanted = key && key.length ? key : Object.keys(known);
    return {
      configurationKey: wanted.filter((k) => k in known).map((k) => ({ key: k, readonly: false, value: known[k] })),
      unknownKey: wanted.filter((k) => !(k in known)),
    };
  },
  ChangeConfiguration: () => ({ status: 'Accepted' }),
  ChangeAvailability: () => ({ status: 'Accepted' }),
  ClearCache: () => ({ status: 'Accepted' }),
  RemoteStartTransaction: () => ({ status: 'Accepted' }),
  RemoteStopTransaction: () => ({ status: 'Accepted' }),
  UnlockConnector: () => ({ status: 'Unlocked' }),
  TriggerMessage: () => ({ status: 'Accepted' }),
  GetLocalListVersion: () => ({ listVersion: 0 }),
  SendLocalList: () => ({ status: 'Accepted' }),
  ReserveNow: () => ({ status: 'Accepted' }),
  CancelReservation: () => ({ status: 'Accepted' }),
  SetChargingProfile: () => ({ status: 'Accepted' }),
  ClearChargingProfile: () => ({ status: 'Accepted' }),
  DataTransfer: () => ({ status: 'UnknownVendorId' }),
};
client.handle(({ method, params, messageId }) => {
  const answer = answers[method] ? answers[method](params) : null;
  commands.push({ method, params, messageId, answer });
  if (method === expectedCommand) setImmediate(commandSeen);
  if (answer === null) throw new Error(`${method} not supported by this test station`);
  return answer;
});

// CallError frames exactly as they came off the wire (proof that a refusal came from
// the CSMS and not from this client's own validation).
const callErrors = [];
client.on('message', ({ message, outbound }) => {
  const frame = JSON.parse(String(message));
  if (!outbound && frame[0] === 4) callErrors.push(frame);
});

const steps = {};
async function step(name, method, params) {
  try {
    steps[name] = { ok: true, result: await client.call(method, params) };
  } catch (err) {
    steps[name] = { ok: false, error: { name: err.name, code: err.rpcErrorCode || '', message: err.message } };
  }
  return steps[name];
}

const now = Date.now();
const energy = (ms, wh, context = 'Sample.Periodic') => ({
  timestamp: iso(ms),
  sampledValue: [
    { value: String(wh), context, measurand: 'Energy.Active.Import.Register', unit: 'Wh', location: 'Outlet' },
    { value: '7200', context, measurand: 'Power.Active.Import', unit: 'W', location: 'Outlet' },
  ],
});

try {
  await client.connect();
  steps.protocol = client.protocol;

  await step('boot', 'BootNotification', {
    chargePointVendor: 'ocpp-rpc', chargePointModel: 'Node station', chargePointSerialNumber: 'NODE-0001',
    firmwareVersion: 'node-20', meterType: 'virtual',
  });
  await step('heartbeat', 'Heartbeat', {});
  await step('status0', 'StatusNotification', { connectorId: 0, errorCode: 'NoError', status: 'Available', timestamp: iso(now) });
  await step('status1', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: iso(now) });

  await step('authKnown', 'Authorize', { idTag: 'BADGE-OK' });
  await step('authUnknown', 'Authorize', { idTag: 'NODE-UNKNOWN' });
  await step('authBlocked', 'Authorize', { idTag: 'BADGE-BLOCKED' });

  // A whole transaction on connector 1, online.
  const t0 = now - 60_000;
  const start = { connectorId: 1, idTag: 'BADGE-OK', meterStart: 10000, timestamp: iso(t0) };
  const started = await step('start', 'StartTransaction', start);
  const tx = started.ok ? started.result.transactionId : -1;
  await step('charging', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: iso(t0 + 1000) });
  const meters = { connectorId: 1, transactionId: tx, meterValue: [energy(t0 + 20_000, 10400), energy(t0 + 40_000, 10800)] };
  await step('meters', 'MeterValues', meters);
  await step('metersReplay', 'MeterValues', meters); // same samples again: nothing inserted twice
  await step('startReplay', 'StartTransaction', start); // the same transactionId expected
  const stop = {
    transactionId: tx, idTag: 'BADGE-OK', meterStop: 11500, timestamp: iso(t0 + 55_000), reason: 'EVDisconnected',
    transactionData: [energy(t0, 10000, 'Transaction.Begin'), energy(t0 + 55_000, 11500, 'Transaction.End')],
  };
  await step('stop', 'StopTransaction', stop);
  await step('stopReplay', 'StopTransaction', stop); // counted once
  await step('available', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: iso(t0 + 56_000) });

  // Offline data: a charge on connector 2 during a communication cut three hours ago,
  // sent now from the station's queue.
  const off = now - 3 * 3600_000;
  await step('offlineStatus', 'StatusNotification', { connectorId: 2, errorCode: 'NoError', status: 'Charging', timestamp: iso(off + 1000) });
  const offStart = await step('offlineStart', 'StartTransaction', { connectorId: 2, idTag: 'BADGE-OK', meterStart: 500, timestamp: iso(off) });
  const offTx = offStart.ok ? offStart.result.transactionId : -1;
  await step('offlineMeters', 'MeterValues', { connectorId: 2, transactionId: offTx, meterValue: [energy(off + 600_000, 2500)] });
  await step('offlineStop', 'StopTransaction', { transactionId: offTx, meterStop: 4500, timestamp: iso(off + 1200_000), reason: 'Local' });

  // Bad input from an independent client: the right CallError, nothing stored.
  client.reconfigure({ strictMode: false });
  await step('unknownAction', 'FooBar', {});
  await step('badEnum', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Sleeping' });
  client.reconfigure({ strictMode: true });

  emit({ phase: 'ready', steps, callErrors });
  if (waitCommandMs > 0) {
    await Promise.race([commandArrived, new Promise((resolve) => setTimeout(resolve, waitCommandMs))]);
    // Our answer to the command went on the socket before this call: once the ingress has
    // answered the Heartbeat, it has read that answer too, and the socket may close.
    await client.call('Heartbeat', {});
  }
  const closed = await client.close({ code: 1000, reason: 'scenario done' });
  emit({ phase: 'done', commands, close: closed });
  process.exit(0);
} catch (err) {
  emit({ phase: 'failed', steps, error: { name: err.name, message: err.message, stack: err.stack } });
  process.exit(1);
}
