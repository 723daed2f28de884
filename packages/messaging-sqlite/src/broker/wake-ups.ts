import { CommitWatcher, wakePath } from '../commit-watcher.ts';
import type { Connection, Member } from './connection.ts';

/** Connections in this process per file, so a commit wakes local members at once. */
const local = new Map<string, Set<WakeUps>>();

/**
 * Noticing there is work: wakes members after a local commit (at once, in every connection of this
 * process to the file), at the time a retry or a blocked message becomes due, and after another
 * process committed (its signal on the wake file, then `PRAGMA data_version`). A woken member claims.
 */
export class WakeUps {
  readonly #conn: Connection;
  readonly #claim: (member: Member) => void;
  readonly #pollMs: number;
  #dataVersion: number;
  #commits: CommitWatcher | undefined;

  constructor(conn: Connection, claim: (member: Member) => void, pollMs: number) {
    this.#conn = conn;
    this.#claim = claim;
    this.#pollMs = pollMs;
    this.#dataVersion = this.#readDataVersion();
    const peers = local.get(conn.path) ?? new Set<WakeUps>();
    local.set(conn.path, peers);
    peers.add(this);
  }

  wake(member: Member): void {
    member.wakes++;
    member.maybeMore = true;
    this.#claim(member);
  }

  /** Wakes members of `group` (or all) in every connection of this process to the same file. */
  wakeLocal(group: string | undefined): void {
    for (const peer of local.get(this.#conn.path) ?? []) peer.#wakeGroup(group);
  }

  #wakeGroup(group: string | undefined): void {
    if (this.#conn.closed) return;
    for (const m of this.#conn.members) if (group === undefined || m.group === group) this.wake(m);
  }

  /** Arms the members of `group` in every local connection to claim at `due` (epoch ms). */
  wakeAt(group: string, due: number): void {
    for (const peer of local.get(this.#conn.path) ?? []) {
      for (const m of peer.#conn.members) if (m.group === group) peer.armDue(m, due);
    }
  }

  /** Arms the member for the earliest lease of its group that becomes claimable. */
  scheduleDue(member: Member): void {
    if (this.#conn.closed) return;
    const row = this.#conn.sql.nextDue.get(member.group, member.id, JSON.stringify([...member.forgotten])) as
      | { due: number | null }
      | undefined;
    if (row?.due != null) this.armDue(member, row.due);
  }

  armDue(member: Member, due: number): void {
    this.clearDue(member);
    if (!member.active) return;
    const clock = this.#conn.clock;
    member.dueTimer = clock.setTimeout(
      () => {
        member.dueTimer = undefined;
        this.wake(member);
      },
      // One millisecond late on purpose: timers may fire a little before the wall clock reaches `due`,
      // and a claim made then would find nothing and arm no further timer.
      Math.max(1, due - clock.now() + 1),
    );
  }

  clearDue(member: Member): void {
    if (member.dueTimer !== undefined) this.#conn.clock.clearTimeout(member.dueTimer);
    member.dueTimer = undefined;
  }

  /** Starts watching for other processes' commits (once, while a member is subscribed). */
  watch(): void {
    if (this.#commits !== undefined) return;
    this.#commits = new CommitWatcher({
      path: wakePath(this.#conn.path),
      check: () => this.#checkForeignCommit(),
      idlePollMs: this.#pollMs,
      fallbackPollMs: 2,
      clock: this.#conn.clock,
    });
    this.#commits.start();
  }

  /** Stops watching and every member's due timer. */
  stop(): void {
    this.#commits?.stop();
    this.#commits = undefined;
    for (const m of this.#conn.members) this.clearDue(m);
  }

  /** Leaves the process's registry of connections to the file. */
  leave(): void {
    local.get(this.#conn.path)?.delete(this);
  }

  #readDataVersion(): number {
    return Number((this.#conn.sql.dataVersion.get() as { data_version: number }).data_version);
  }

  /** `data_version` changes when another connection commits: a cheap cross-process nudge. */
  #checkForeignCommit(): void {
    if (this.#conn.closed) return;
    const version = this.#readDataVersion();
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    this.#conn.writer.poke();
    for (const m of this.#conn.members) if (m.active && !m.maybeMore) this.wake(m);
  }
}
