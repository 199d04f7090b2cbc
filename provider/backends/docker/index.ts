export { DockerBackend } from "./dockerBackend";
export type { DockerBackendOptions } from "./engine";
export { PROBE_EXEC } from "./probes";
