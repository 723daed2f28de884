/**
 * Starts the `http` benchmarks' server (`http-server-child.ts`) in its own process, so its work does not
 * share the clients' event loop. Resolves with its port and a `stop()` that ends the child.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export async function startServer(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@meshkit/source', new URL('./http-server-child.ts', import.meta.url).pathname],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { port: Number(line), stop: () => child.stdin!.end() };
}
