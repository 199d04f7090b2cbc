export { KubernetesBackend } from "./kubernetesBackend";
export { type KubernetesTarget, fromClientShape, reason, statusCode, toClientShape } from "./client";
export { statusOf } from "./pods";
