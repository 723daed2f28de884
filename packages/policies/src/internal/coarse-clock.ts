import { type Clock, systemClock } from '@meshkit/core';

/**
 * Cheap time for hot paths. Reading the system clock costs tens of nanoseconds, a large share of a
 * whole resilient call, and a timeout reads it on every call. So for the system clock, the time is
 * cached and refreshed by a 1 ms unref'd interval that runs only while someone reads it (it stops itself
 * after a tick with no read). This is the trade libuv makes for Node's own timers, whose "now" is cached
 * per loop iteration: a deadline computed here can be early by up to 1 ms, or by however long the event
 * loop has been blocked. Any other clock (a `FakeClock` in tests) is read directly.
 */

const tickMs = 1;
let cached = 0;
let read = false;
let ticker: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  if (!read) {
    clearInterval(ticker);
    ticker = undefined;
    return;
  }
  read = false;
  cached = Date.now();
}

/**
 * `clock.now()`, or for the system clock a reading at most about 1 ms old. Kept tiny (the ticker starts
 * in its own function) because hot paths inline it, and the optimizing compiler inlines only so much
 * code into one function.
 */
export function coarseNow(clock: Clock): number {
  if (clock !== systemClock) return clock.now();
  if (ticker === undefined) start();
  read = true;
  return cached;
}

function start(): void {
  cached = Date.now();
  ticker = setInterval(tick, tickMs);
  ticker.unref();
}
