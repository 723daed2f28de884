import { requireNode } from '@meshkit/core/internal';

/** `@platformatic/kafka` needs Node 22.22: say so in one line instead of failing inside it. */
requireNode('@meshkit/messaging-kafka', '22.22.0');
