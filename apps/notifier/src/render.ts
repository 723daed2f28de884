import type { UserEvent } from './user-event.ts';

/** The text the notifier would send for `event`. */
export function renderMessage(event: UserEvent): string {
  const who = event.name ?? event.email;
  switch (event.type) {
    case 'USER_CREATED':
      return `Welcome, ${who}! Your account ${event.email} is ready.`;
    case 'USER_UPDATED':
      return `Hello ${who}, your account details were updated${event.status === undefined ? '' : ` (status: ${event.status})`}.`;
    case 'USER_DELETED':
      return `Goodbye, ${who}. The account ${event.email} has been deleted.`;
  }
}
