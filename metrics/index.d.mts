// Types of the ES module entry of shm-hashmap/metrics: the class as a named
// and as the default export (the declarations are in index.d.ts).
import { ClusterMetrics } from './index.js'

export { ClusterMetrics }
export type { ClusterMetricsOptions, MetricsRegistry } from './index.js'
export default ClusterMetrics
