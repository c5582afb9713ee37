// The demo's HTTP target doubles as the tests' local service.
export * from '../../src/demo/http-target.ts';
