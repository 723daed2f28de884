/**
 * The scripted scenario: phases of steady load through the gateway, each with a fault that starts when the
 * phase starts and is undone when it ends. The list is data; the runner walks it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MeshConfig } from 'meshkit';
import { brokerOutage, injectLatency } from './faults.ts';
import type { LoadGenerator } from './load.ts';
import type { Supervisor } from './supervisor.ts';

/** What a phase may act on. */
export interface ScenarioTarget {
  readonly supervisor: Supervisor;
  readonly load: LoadGenerator;
  /** The mesh's broker. */
  readonly broker: MeshConfig['broker'];
  /** Restarts an app that was killed, as an orchestrator would. */
  readonly restart: (app: string) => Promise<void>;
  /** Publishes one message the notifier cannot handle (it must be dead-lettered, not lost or retried forever). */
  readonly publishPoison: () => Promise<void>;
  /** Prints a line above the live view. */
  readonly say: (line: string) => void;
}

export interface Phase {
  readonly name: string;
  /** Share of the scenario's length. */
  readonly weight: number;
  /** Applies the phase's fault; returns how to undo it at the end of the phase. */
  readonly enter: (
    target: ScenarioTarget,
    lengthMs: number,
  ) => Promise<(() => Promise<void> | void) | undefined>;
}

export const phases: readonly Phase[] = [
  {
    name: 'steady load',
    weight: 2,
    enter: async (t) => {
      await t.publishPoison();
      t.say('  a malformed user.created event was published: the notifier must dead-letter it');
      return undefined;
    },
  },
  {
    name: 'v1 instance killed',
    weight: 2,
    enter: async (t, lengthMs) => {
      t.supervisor.signal('user-service-v1-a', 'SIGKILL');
      t.say('  user-service-v1-a killed (SIGKILL); it restarts half-way through the phase');
      await sleep(lengthMs / 2);
      await t.restart('user-service-v1-a');
      t.say('  user-service-v1-a is back');
      return undefined;
    },
  },
  {
    name: 'latency on user-service-v1-b',
    weight: 2,
    enter: async (t) => {
      const stop = injectLatency(t.supervisor, 'user-service-v1-b', 150, 400);
      t.say('  user-service-v1-b frozen 150 ms in every 400 ms (SIGSTOP / SIGCONT)');
      return stop;
    },
  },
  {
    name: 'broker unavailable',
    weight: 2,
    enter: async (t, lengthMs) => {
      t.say(`  ${await brokerOutage(t.broker, Math.round(lengthMs / 2))}`);
      return undefined;
    },
  },
  {
    name: 'canary header flipped',
    weight: 1.5,
    enter: async (t) => {
      t.load.canary = true;
      t.say('  every call now sends x-canary: true (routed to v2 by the VirtualService)');
      return () => {
        t.load.canary = false;
      };
    },
  },
  {
    name: 'steady load again',
    weight: 1,
    enter: async () => undefined,
  },
];

/**
 * Runs every phase in order for `totalMs` in all, shared by weight. The load runs throughout; a phase's
 * fault may take part of its time (a restart) and the phase still lasts its share.
 */
export async function runScenario(
  target: ScenarioTarget,
  totalMs: number,
  onPhase: (phase: Phase, endsAt: number) => void,
): Promise<void> {
  const weights = phases.reduce((sum, p) => sum + p.weight, 0);
  for (const phase of phases) {
    const lengthMs = (totalMs * phase.weight) / weights;
    const endsAt = Date.now() + lengthMs;
    target.load.phase = phase.name;
    onPhase(phase, endsAt);
    const undo = await phase.enter(target, lengthMs);
    const left = endsAt - Date.now();
    if (left > 0) await sleep(left);
    await undo?.();
  }
}
