// ESM entry of shm-hashmap/metrics: the same class as require('shm-hashmap/metrics').
import ClusterMetrics from './index.js'

export { ClusterMetrics }
export default ClusterMetrics
