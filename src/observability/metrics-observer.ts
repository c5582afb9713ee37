import type { WorkerObserver } from '../worker/observer.ts';
import type { Metrics } from './metrics.ts';

/** The worker-side feed of the metrics: cost per attempt, service in-flight, rate-limit holds, mocked gates, stalled jobs. */
export function metricsObserver(metrics: Metrics): WorkerObserver {
  return {
    attemptStarted({ scenario, service, gatedMock }) {
      if (service) metrics.serviceInFlight(service, 1);
      if (gatedMock) metrics.credentialGate('mock');
      let ended = false;
      return ({ cost }) => {
        if (ended) return;
        ended = true;
        if (service) metrics.serviceInFlight(service, -1);
        metrics.cost(scenario, service, cost);
      };
    },
    attemptWaited({ service }, reason) {
      if (reason === 'rate_limited' && service) metrics.rateLimited(service);
    },
    jobStalled(queue) {
      metrics.stalledJob(queue);
    },
  };
}
