/**
 * pulumi-compute-instance: self-hosted ML compute instances (Azure ML-style data-science
 * workstations) as Pulumi components, on your own Docker engine (or Kubernetes cluster).
 */
export {
    Workspace,
    WorkspaceArgs,
    AgentArgs,
    BackendArgs,
    DockerBackendArgs,
    KubernetesBackendArgs,
    QuotaArgs,
    UserFilesArgs,
    WorkspaceNetworkArgs,
} from "./components/workspace";
export {
    AssignedUserArgs,
    ComputeInstance,
    ComputeInstanceArgs,
    CustomApplicationArgs,
    CustomSize,
    IdleShutdownArgs,
    JobsArgs,
    InboundRuleArgs,
    InstanceNetworkArgs,
    OsDiskArgs,
    ScheduleArgs,
    ScheduleOutput,
    ScriptArgs,
    SetupScriptsArgs,
    SshArgs,
    TempDiskArgs,
} from "./components/computeInstance";
export { MAX_SCHEDULES, MIN_IDLE_SECONDS, type Firing, type ScheduleAction } from "./provider/model/schedule";
export type { Endpoints } from "./provider/model/endpoints";
export type { InstanceStatus } from "./provider/backends/backend";
export { APPLICATIONS, Application, DEFAULT_APPLICATIONS } from "./provider/model/applications";
export { DEFAULT_OS_DISK_GB } from "./provider/model/fields";
export { SIZE_CATALOG, SizeFigures, DEFAULT_SIZE_NAME, findSize } from "./provider/model/sizes";
export { ValidationError } from "./provider/model/errors";
