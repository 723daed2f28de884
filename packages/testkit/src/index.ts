/**
 * `@meshkit/testkit`: what meshkit's own tests use, exported for users' tests: the fake clock,
 * scripted services, TLS test certificates, faulty HTTP servers and clients, and the conformance suites
 * for registry sources and broker adapters.
 */
export { FakeClock } from '@meshkit/core';
export { type BrokerConformanceOptions, brokerConformance } from './broker-conformance.ts';
export { generateCerts, type TestCerts } from './certs.ts';
export { type FakeConsul, startFakeConsul } from './fake-consul.ts';
export {
  type FaultOutcome,
  type OversizeUploadOptions,
  oversizeUpload,
  type ResetMidRequestOptions,
  resetMidRequest,
  type SlowRequestOptions,
  slowRequest,
} from './fault-clients.ts';
export { type FaultServer, type FaultServerOptions, faultServer, type HttpFault } from './fault-server.ts';
export {
  type ConformanceAnswer,
  type LayerConformanceOptions,
  layerConformance,
} from './layer-conformance.ts';
export { type MainProcess, type MainReady, startMainProcess } from './main-process.ts';
export type { RegistryChildConfig, RegistryStore } from './registry-child.ts';
export {
  type RegistryConformanceOptions,
  type RegistryHarness,
  registryConformance,
} from './registry-conformance.ts';
export {
  type RegistryProcessHarness,
  type RegistryProcessOptions,
  registryProcessConformance,
} from './registry-processes.ts';
export { delay, type ScriptedCall, type ScriptedService, type Step, scripted } from './scripted.ts';
