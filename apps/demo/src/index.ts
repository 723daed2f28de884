/** The reference system's demo, for `meshkit demo` and tests: {@link runDemo}. */
export { type DemoOptions, type DemoSystemUrls, runDemo } from './demo.ts';
export type { Summary } from './summary.ts';
