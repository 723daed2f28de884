import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CallContext, createContext } from './context.ts';
import {
  cancelsPromptly,
  inheritCancelsPromptly,
  type Layer,
  markCancelsPromptly,
  type Service,
  stack,
} from './service.ts';

function tracer(name: string, log: string[]): Layer<string, string> {
  return {
    name,
    wrap: (next) => async (req, ctx) => {
      log.push(`${name}>`);
      const res = await next(`${req}/${name}`, ctx);
      log.push(`<${name}`);
      return res;
    },
    describe: () => ({ seen: log.length }),
  };
}

describe('stack', () => {
  it('runs layers in reading order: the first listed sees the request first and the response last', async () => {
    const log: string[] = [];
    const echo: Service<string, string> = async (req) => {
      log.push('service');
      return req;
    };
    const svc = stack(tracer('a', log), tracer('b', log), tracer('c', log)).wrap(echo);
    assert.equal(await svc('req', createContext()), 'req/a/b/c');
    assert.deepEqual(log, ['a>', 'b>', 'c>', 'service', '<c', '<b', '<a']);
  });

  it('is named after its layers and describes each one', () => {
    const log: string[] = [];
    const s = stack(tracer('a', log), tracer('b', log));
    assert.equal(s.name, 'stack(a, b)');
    assert.deepEqual(s.describe?.(), {
      layers: [
        { name: 'a', seen: 0 },
        { name: 'b', seen: 0 },
      ],
    });
  });

  it('an empty stack is the service itself', async () => {
    const svc: Service<number, number> = async (n) => n + 1;
    assert.equal(stack<number, number>().wrap(svc), svc);
  });

  it('nests: a stack is a layer', async () => {
    const log: string[] = [];
    const inner = stack(tracer('b', log), tracer('c', log));
    const svc = stack(tracer('a', log), inner).wrap(async (req: string, _ctx: CallContext) => req);
    assert.equal(await svc('x', createContext()), 'x/a/b/c');
  });

  it('marks a service as cancelling promptly, and nothing else', () => {
    const marked: Service<number, number> = async (n) => n;
    const plain: Service<number, number> = async (n) => n;
    assert.equal(markCancelsPromptly(marked), marked);
    assert.equal(cancelsPromptly(marked), true);
    assert.equal(cancelsPromptly(plain), false);
  });

  it('passes the mark on from the service below, and only when that one has it', () => {
    const below: Service<number, number> = markCancelsPromptly(async (n: number) => n);
    const over: Service<number, number> = async (n) => n;
    const overPlain: Service<number, number> = async (n) => n;
    assert.equal(inheritCancelsPromptly(below, over), over);
    assert.equal(cancelsPromptly(over), true);
    assert.equal(
      inheritCancelsPromptly(async (n: number) => n, overPlain),
      overPlain,
    );
    assert.equal(cancelsPromptly(overPlain), false);
  });
});
