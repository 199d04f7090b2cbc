/**
 * Spec → Kubernetes objects, by family. Pure: every manifest is unit-tested (and snapshot-tested)
 * without a cluster; the rest of the backend only applies them.
 */
export {
    FIELD_MANAGER,
    type KubeObject,
    USER_LABELS_ANNOTATION,
    agentPodLabels,
    namespaceManifest,
    podSelector,
    runtimeName,
    tokenSecretName,
    userLabelsOf,
} from "./metadata";
export { pvcManifest } from "./claims";
export { egressPolicyManifest, egressPolicyName, instancePolicyManifest, workspacePolicyManifest } from "./network";
export {
    SSH_KEYS_DIR,
    WORKSTATION_CONTAINER,
    containerResources,
    cpuQuantity,
    memoryQuantity,
    podJupyterUrl,
    readsTokenFile,
    runtimeManifests,
    serviceManifest,
    sshServicePort,
    statefulSetManifest,
    tokenSecretManifest,
} from "./runtime";
export { assignedUserManifests, assignedUserRoleName } from "./assignedUser";
export { agentManifests, agentMemoryName, agentName, agentPoliciesName } from "./agent";
