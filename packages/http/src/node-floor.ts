import { requireNode } from '@meshkit/core/internal';

/** undici 8, which the client runs on, needs Node 22.19: say so in one line instead of failing inside it. */
requireNode('@meshkit/http', '22.19.0');
