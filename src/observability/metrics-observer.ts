import type { WorkerObserver } from '../worker/observer.ts';
import type { Metrics } from './metrics.ts';

/** The worker-side feed of the metrics: cost per attempt, service in-flight, stalled jobs. */
export function metricsObserver(metrics: Metrics): WorkerObserver {
  return {
    attemptStarted({ scenario, service }) {
      if (service) metrics.serviceInFlight(service, 1);
      let ended = false;
      return ({ cost }) => {
        if (ended) return;
        ended = true;
        if (service) metrics.serviceInFlight(service, -1);
        metrics.cost(scenario, service, cost);
      };
    },
    jobStalled(queue) {
      metrics.stalledJob(queue);
    },
  };
}
