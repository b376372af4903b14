// An OCPP 2.0.1 charging station written with the npm package `ocpp-rpc` in strictMode (every
// call it sends and every answer it gets is checked against ocpp-rpc's own bundled 2.0.1 JSON
// schemas: a malformed answer from the ingress fails the call), driven by
// tests/csms/test_node_ocpp201.py. It sends every station-initiated 2.0.1 message of issue 17
// §1 and §2 (not the firmware, log and security ones): a base report in three parts (the
// middle one twice), a monitoring report, charging profiles, a reservation update, a data
// transfer, charging limits, the EV's needs and schedule, customer information, display
// messages, an ISO 15118 certificate request and an OCSP status request; then two frames
// strict mode would refuse to send (an unknown MessageTypeId, sent raw).
//
// Usage: node scenario201.mjs URL IDENTITY PASSWORD
// Output: one JSON object a line: {"phase": "done", "steps": {...}, "rawAnswers": [...]}.

import { RPCClient } from 'ocpp-rpc';

const [url, identity, password] = process.argv.slice(2);
if (!url || !identity || !password) {
  console.error('usage: node scenario201.mjs URL IDENTITY PASSWORD');
  process.exit(2);
}
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const iso = () => new Date().toISOString();

const client = new RPCClient({
  endpoint: url, identity, password, protocols: ['ocpp2.0.1'], strictMode: true, reconnect: false, callTimeoutMs: 20000,
});

const steps = {};
async function step(name, method, params) {
  try {
    steps[name] = { ok: true, result: await client.call(method, params) };
  } catch (err) {
    steps[name] = { ok: false, error: { name: err.name, code: err.rpcErrorCode || '', message: err.message } };
  }
}

const variable = (component, name, value, mutability = 'ReadWrite', dataType = 'integer') => ({
  component, variable: { name },
  variableAttribute: [value === null ? { type: 'Actual', mutability } : { type: 'Actual', value, mutability }],
  variableCharacteristics: { dataType, supportsMonitoring: true },
});
const parts = [
  [variable({ name: 'OCPPCommCtrlr' }, 'HeartbeatInterval', '300'), variable({ name: 'OCPPCommCtrlr' }, 'OfflineThreshold', '60')],
  [variable({ name: 'ChargingStation' }, 'Model', 'Node station', 'ReadOnly', 'string')],
  [variable({ name: 'EVSE', evse: { id: 1 } }, 'Power', '11000', 'ReadOnly', 'decimal')],
];
const report = (seqNo) => ({ requestId: 101, generatedAt: iso(), seqNo, tbc: seqNo < 2, reportData: parts[seqNo] });

try {
  await client.connect();
  await step('boot', 'BootNotification', { reason: 'PowerUp', chargingStation: { vendorName: 'ocpp-rpc', model: 'Node station' } });
  await step('report0', 'NotifyReport', report(0));
  await step('report1', 'NotifyReport', report(1));
  await step('report1Replay', 'NotifyReport', report(1));
  await step('report2', 'NotifyReport', report(2));
  await step('monitoring', 'NotifyMonitoringReport', {
    requestId: 102, seqNo: 0, generatedAt: iso(), monitor: [{
      component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'Power' },
      variableMonitoring: [{ id: 3, transaction: false, value: 11000, type: 'UpperThreshold', severity: 4 }],
    }],
  });
  await step('profiles', 'ReportChargingProfiles', {
    requestId: 103, chargingLimitSource: 'CSO', evseId: 1, chargingProfile: [{
      id: 1, stackLevel: 0, chargingProfilePurpose: 'TxDefaultProfile', chargingProfileKind: 'Absolute',
      chargingSchedule: [{ id: 1, chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 7000 }] }],
    }],
  });
  await step('reservation', 'ReservationStatusUpdate', { reservationId: 5, reservationUpdateStatus: 'Removed' });
  await step('dataTransfer', 'DataTransfer', { vendorId: 'org.example.node', messageId: 'ping', data: 'hello' });
  await step('limit', 'NotifyChargingLimit', { chargingLimit: { chargingLimitSource: 'EMS', isGridCritical: false }, evseId: 1 });
  await step('limitCleared', 'ClearedChargingLimit', { chargingLimitSource: 'EMS', evseId: 1 });
  await step('needs', 'NotifyEVChargingNeeds', {
    evseId: 1, chargingNeeds: { requestedEnergyTransfer: 'DC', dcChargingParameters: { evMaxCurrent: 125, evMaxVoltage: 500 } },
  });
  await step('schedule', 'NotifyEVChargingSchedule', {
    timeBase: iso(), evseId: 1, chargingSchedule: { id: 2, chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 11000 }] },
  });
  await step('customer', 'NotifyCustomerInformation', { data: 'no data for this customer', seqNo: 0, generatedAt: iso(), requestId: 104 });
  await step('display', 'NotifyDisplayMessages', {
    requestId: 105, messageInfo: [{ id: 1, priority: 'NormalCycle', message: { format: 'UTF8', content: 'Bienvenue' } }],
  });
  await step('evCertificate', 'Get15118EVCertificate', {
    iso15118SchemaVersion: 'urn:iso:15118:2:2013:MsgDef', action: 'Install', exiRequest: 'RVhJ',
  });
  await step('certificateStatus', 'GetCertificateStatus', {
    ocspRequestData: { hashAlgorithm: 'SHA256', issuerNameHash: 'aa', issuerKeyHash: 'bb', serialNumber: '01', responderURL: 'http://ocsp.example.test' },
  });
  // A frame ocpp-rpc would never send itself: an unknown MessageTypeId, on the raw socket.
  const rawAnswers = [];
  client.on('message', ({ message, outbound }) => { if (!outbound) rawAnswers.push(JSON.parse(String(message))); });
  client.sendRaw(JSON.stringify([6, 'node-mt-6', 'Heartbeat', {}]));
  await step('heartbeat', 'Heartbeat', {}); // answered after the CallError: the connection goes on
  const closed = await client.close({ code: 1000, reason: 'scenario done' });
  emit({ phase: 'done', steps, rawAnswers: rawAnswers.filter((f) => f[1] === 'node-mt-6'), close: closed });
  process.exit(0);
} catch (err) {
  emit({ phase: 'failed', steps, error: { name: err.name, message: err.message, stack: err.stack } });
  process.exit(1);
}
