/**
 * `@meshkit/testkit`: what meshkit's own tests use, exported for users' tests: the fake clock,
 * scripted services, and the conformance suites for registry sources and broker adapters.
 */
export { FakeClock } from '@meshkit/core';
export { delay, type ScriptedCall, type ScriptedService, type Step, scripted } from './scripted.ts';
