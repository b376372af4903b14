// A station written with the npm package `ocpp-rpc` in strictMode that sends the security, firmware and
// log messages of issue 17 (OCPP 1.6 Security Whitepaper ed. 3, or OCPP 2.0.1), each validated by
// ocpp-rpc against its own schemas both ways, and answers the CSMS's security commands (a malformed
// command from us is refused by the station itself and reported as {"phase": "invalid"}).
//
// Usage: node security.mjs URL IDENTITY PASSWORD PROTOCOL, with the CSR (PEM) in OCPP_CSR.
// Standard output: {"phase": "ready", "steps": {...}}, {"phase": "command", ...} per command, then
// {"phase": "done"} when standard input closes.

import { createInterface } from 'node:readline';
import { RPCClient } from 'ocpp-rpc';

const [url, identity, password, protocol = 'ocpp1.6'] = process.argv.slice(2);
const v201 = protocol === 'ocpp2.0.1';
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const client = new RPCClient({ endpoint: url, identity, password, protocols: [protocol], strictMode: true,
  reconnect: false, callTimeoutMs: 20000 });
const accepted = () => ({ status: 'Accepted' });
const answers = {
  CertificateSigned: accepted, InstallCertificate: accepted, DeleteCertificate: accepted,
  GetInstalledCertificateIds: () => ({ status: 'NotFound' }), ExtendedTriggerMessage: accepted,
  GetLog: () => ({ status: 'Accepted', filename: 'security.log' }), SignedUpdateFirmware: accepted,
  UpdateFirmware: accepted,
};
client.handle(({ method, params }) => {
  emit({ phase: 'command', method, params });
  if (!answers[method]) throw new Error(`${method} not supported by this test station`);
  return answers[method](params);
});
client.on('strictValidationFailure', ({ method, error }) => emit({ phase: 'invalid', method, error: String(error && error.message) }));

const steps = {};
async function step(name, method, params) {
  try { steps[name] = { ok: true, result: await client.call(method, params) }; } catch (err) {
    steps[name] = { ok: false, error: { name: err.name, code: err.rpcErrorCode, message: err.message } };
  }
}

try {
  await client.connect();
  const at = new Date().toISOString();
  await step('security', 'SecurityEventNotification', { type: 'TamperDetectionActivated', timestamp: at, techInfo: 'node' });
  await step('sign', 'SignCertificate', v201 ? { csr: process.env.OCPP_CSR, certificateType: 'ChargingStationCertificate' } : { csr: process.env.OCPP_CSR });
  if (v201) await step('firmware', 'FirmwareStatusNotification', { status: 'Downloading', requestId: 1 });
  else await step('firmware', 'SignedFirmwareStatusNotification', { status: 'Downloading', requestId: 1 });
  await step('log', 'LogStatusNotification', { status: 'Uploading', requestId: 2 });
  emit({ phase: 'ready', protocol: client.protocol, steps });
  for await (const line of createInterface({ input: process.stdin })) { if (line.trim() === 'stop') break; }
  await client.close({ code: 1000, reason: 'test done' });
  emit({ phase: 'done' });
  process.exit(0);
} catch (err) {
  emit({ phase: 'failed', error: { name: err.name, message: err.message } });
  process.exit(1);
}
