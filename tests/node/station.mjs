// A charging station that stays connected and answers the CSMS's remote commands, written
// with the npm package `ocpp-rpc` in strictMode: every call the CSMS sends is validated
// against the OCPP JSON schemas bundled with ocpp-rpc (1.6 or 2.0.1) before it is answered,
// so a malformed command is refused by the station itself, and so is every answer it gives.
// It answers every command a CSMS may send in either version (core, 1.6 security whitepaper,
// 2.0.1 device model, monitoring, certificates, display messages…). Driven by the browser
// tests of the remote-command forms (tests/e2e/test_commands_browser.py) and by
// tests/csms/test_node_commands.py (every typed form of both versions).
//
// Usage: node station.mjs URL IDENTITY PASSWORD PROTOCOL [POINTS]
//   URL is the endpoint without the identity (ws://127.0.0.1:9000/ocpp); PROTOCOL is
//   ocpp1.6 or ocpp2.0.1; POINTS the number of charge points reported Available (1).
// Standard input, one JSON object a line: {"do": "start", "idTag": "…", "point": 1} starts a
// charge; {"do": "stop"} (or the end of input) closes the socket and exits.
// Standard output, one JSON object a line: {"phase": "ready", "answers": [the commands it
// answers]}, {"phase": "started", "transactionId": …}, {"phase": "command", "method": …,
// "params": …, "answer": …} for every command received, {"phase": "invalid", "outbound": false, …} for a
// command that failed the schema (true: an answer of its own that did), {"phase": "done"}.

import { createInterface } from 'node:readline';
import { RPCClient } from 'ocpp-rpc';

const [url, identity, password, protocol = 'ocpp1.6', points = '1'] = process.argv.slice(2);
if (!url || !identity || !password) {
  console.error('usage: node station.mjs URL IDENTITY PASSWORD PROTOCOL [POINTS]');
  process.exit(2);
}
const v201 = protocol === 'ocpp2.0.1';
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const now = () => new Date().toISOString();

const client = new RPCClient({
  endpoint: url, identity, password, protocols: [protocol], strictMode: true, reconnect: false, callTimeoutMs: 20000,
});

const accepted = () => ({ status: 'Accepted' });
const answers16 = {
  RemoteStartTransaction: accepted, RemoteStopTransaction: accepted, UnlockConnector: () => ({ status: 'Unlocked' }),
  Reset: accepted, ChangeAvailability: accepted, ChangeConfiguration: accepted, ClearCache: accepted,
  GetConfiguration: ({ key }) => ({
    configurationKey: (key && key.length ? key : ['HeartbeatInterval']).map((k) => ({ key: k, readonly: false, value: '300' })),
  }),
  TriggerMessage: accepted, ReserveNow: accepted, CancelReservation: accepted, SendLocalList: accepted,
  GetLocalListVersion: () => ({ listVersion: 1 }), SetChargingProfile: accepted, ClearChargingProfile: accepted,
  GetCompositeSchedule: () => ({ status: 'Rejected' }), UpdateFirmware: () => ({}), GetDiagnostics: () => ({}),
  DataTransfer: () => ({ status: 'UnknownVendorId' }),
  // OCPP 1.6 Security Whitepaper ed. 3 (the schemas ocpp-rpc bundles with 1.6)
  ExtendedTriggerMessage: accepted, GetLog: () => ({ status: 'Accepted', filename: 'security.log' }),
  SignedUpdateFirmware: accepted, InstallCertificate: accepted, DeleteCertificate: () => ({ status: 'NotFound' }),
  GetInstalledCertificateIds: () => ({ status: 'NotFound' }), CertificateSigned: accepted,
};
const answers201 = {
  RequestStartTransaction: accepted, RequestStopTransaction: accepted, UnlockConnector: () => ({ status: 'Unlocked' }),
  Reset: accepted, ChangeAvailability: accepted, ClearCache: accepted,
  GetVariables: ({ getVariableData }) => ({
    getVariableResult: getVariableData.map((d) => ({ attributeStatus: 'Accepted', attributeValue: '300', component: d.component, variable: d.variable })),
  }),
  SetVariables: ({ setVariableData }) => ({
    setVariableResult: setVariableData.map((d) => ({ attributeStatus: 'Accepted', component: d.component, variable: d.variable })),
  }),
  GetBaseReport: accepted, TriggerMessage: accepted, ReserveNow: accepted, CancelReservation: accepted,
  SendLocalList: accepted, GetLocalListVersion: () => ({ versionNumber: 1 }), SetChargingProfile: accepted,
  ClearChargingProfile: accepted, GetChargingProfiles: () => ({ status: 'NoProfiles' }),
  GetCompositeSchedule: () => ({ status: 'Rejected' }), GetTransactionStatus: () => ({ messagesInQueue: false }),
  UpdateFirmware: accepted, GetLog: accepted, DataTransfer: () => ({ status: 'UnknownVendorId' }),
  // The device model (2.0.1 B08, N02-N04): accepted, the reports themselves are not sent (scenario201.mjs does).
  GetReport: accepted, GetMonitoringReport: accepted,
  SetVariableMonitoring: ({ setMonitoringData }) => ({
    setMonitoringResult: setMonitoringData.map((d, i) => ({
      id: d.id ?? i + 1, status: 'Accepted', type: d.type, severity: d.severity, component: d.component, variable: d.variable,
    })),
  }),
  ClearVariableMonitoring: ({ id }) => ({ clearMonitoringResult: id.map((n) => ({ status: 'Accepted', id: n })) }),
  SetMonitoringBase: accepted, SetMonitoringLevel: accepted, SetNetworkProfile: () => ({ status: 'Rejected' }),
  CustomerInformation: accepted,
  // Certificates (M01-M05, A02), display messages (O01-O06), firmware publication (L03-L04), cost (I06)
  CertificateSigned: accepted, InstallCertificate: accepted, DeleteCertificate: () => ({ status: 'NotFound' }),
  GetInstalledCertificateIds: () => ({ status: 'NotFound' }), SetDisplayMessage: accepted,
  GetDisplayMessages: () => ({ status: 'Unknown' }), ClearDisplayMessage: () => ({ status: 'Unknown' }),
  PublishFirmware: accepted, UnpublishFirmware: () => ({ status: 'NoFirmware' }), CostUpdated: () => ({}),
};
const answers = v201 ? answers201 : answers16;

client.handle(({ method, params }) => {
  const answer = answers[method] && answers[method](params);
  emit({ phase: 'command', method, params, answer });
  if (!answer) throw new Error(`${method} not supported by this test station`);
  return answer;
});
// A command failing the schema never reaches the handler: strictMode answers a CallError.
// An answer of ours failing it (``outbound``) is this station's own bug: it is reported the same way.
client.on('strictValidationFailure', ({ messageId, method, params, error, outbound }) => {
  emit({ phase: 'invalid', messageId, method, params, outbound, error: String(error && error.message) });
});

async function boot() {
  if (v201) {
    await client.call('BootNotification', { reason: 'PowerUp', chargingStation: { vendorName: 'ocpp-rpc', model: 'Node station' } });
    for (let evse = 1; evse <= Number(points); evse++) {
      await client.call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: evse, connectorId: 1 });
    }
  } else {
    await client.call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'Node station' });
    for (let c = 0; c <= Number(points); c++) {
      await client.call('StatusNotification', { connectorId: c, errorCode: 'NoError', status: 'Available', timestamp: now() });
    }
  }
}

async function start({ idTag, point = 1 }) {
  if (v201) {
    const transactionId = `node-${Date.now()}`;
    await client.call('TransactionEvent', {
      eventType: 'Started', timestamp: now(), triggerReason: 'Authorized', seqNo: 0,
      transactionInfo: { transactionId, chargingState: 'Charging' }, idToken: { idToken: idTag, type: 'ISO14443' },
      evse: { id: point, connectorId: 1 },
    });
    await client.call('StatusNotification', { timestamp: now(), connectorStatus: 'Occupied', evseId: point, connectorId: 1 });
    return transactionId;
  }
  const started = await client.call('StartTransaction', { connectorId: point, idTag, meterStart: 1000, timestamp: now() });
  await client.call('StatusNotification', { connectorId: point, errorCode: 'NoError', status: 'Charging', timestamp: now() });
  return started.transactionId;
}

try {
  await client.connect();
  await boot();
  emit({ phase: 'ready', protocol: client.protocol, answers: Object.keys(answers).sort() });
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const order = JSON.parse(line);
    if (order.do === 'start') emit({ phase: 'started', transactionId: await start(order) });
    if (order.do === 'stop') break;
  }
  await client.close({ code: 1000, reason: 'test done' });
  emit({ phase: 'done' });
  process.exit(0);
} catch (err) {
  emit({ phase: 'failed', error: { name: err.name, message: err.message } });
  process.exit(1);
}
