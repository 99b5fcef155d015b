/** What other folders use of this one. */
export { type Runtime, buildRuntime } from './compose.ts';
