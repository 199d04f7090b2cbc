/** Defaults that commands need without loading the schemas (and zod). */
export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";
export const DEFAULT_READY_TIMEOUT_SECONDS = 300;
