/**
 * One measurement of the policies benchmark in a process of its own (see policies.ts):
 *   policies-child.ts <variant>        prints the variant's ns per call and the bare call's beside it
 *   policies-child.ts heap:<calls>     prints the heap growth in bytes after that many meshkit calls
 */
import { heapGrowth, measureHere } from './policies.ts';

const task = process.argv[2] ?? '';
const result = task.startsWith('heap:') ? [await heapGrowth(Number(task.slice(5)))] : await measureHere(task);
process.stdout.write(`${result.join(' ')}\n`);
