/**
 * The Kubernetes backend: a thin adapter from the backend interface to the Kubernetes API
 * (@kubernetes/client-node), applying the manifests of ./manifests with server-side apply under
 * one field manager. The class only assembles the modules, each of one concern.
 */
import {
    AgentSpec,
    AgentState,
    AgentStore,
    Backend,
    CAPABILITIES,
    Capacity,
    DiskRole,
    DiskState,
    EgressSpec,
    InboundSpec,
    InstanceRef,
    InstanceView,
    LiveChanges,
    Ownership,
    RuntimeSpec,
    RuntimeState,
    UserFilesClaim,
    UserFilesRelease,
} from "../backend";
import { Progress } from "../../progress";
import type { QuotaUse } from "../../model/quota";
import { KubeClient, KubernetesTarget } from "./client";
import { KubeObject } from "./manifests";
import * as agent from "./agent";
import { agentStore } from "./agentStore";
import * as claims from "./claims";
import * as cluster from "./cluster";
import { updateRuntime } from "./liveChanges";
import * as power from "./power";
import * as runtime from "./runtime";
import * as workspaceObjects from "./workspaceObjects";

export class KubernetesBackend implements Backend {
    readonly description: string;
    /** Pods are resized in place through the pods/resize subresource (Kubernetes 1.33 and later). */
    readonly liveResize = CAPABILITIES.kubernetes.liveResize;
    readonly liveTempDiskResize = CAPABILITIES.kubernetes.liveTempDiskResize;
    readonly buildsImages = CAPABILITIES.kubernetes.buildsImages;
    private readonly kube: KubeClient;

    constructor(readonly target: KubernetesTarget) {
        this.kube = new KubeClient(target);
        this.description = this.kube.description;
    }

    /** Server-side apply of a whole object under this project's field manager. */
    apply(obj: KubeObject, dryRun = false): Promise<KubeObject> {
        return this.kube.apply(obj, dryRun);
    }

    identity(): Promise<string | undefined> {
        return cluster.identity(this.kube);
    }
    ping(): Promise<void> {
        return cluster.ping(this.kube);
    }
    capacity(): Promise<Capacity> {
        return cluster.capacity(this.kube);
    }

    // The nodes pull images themselves (a missing one shows as the pod's events): no `images`.

    userFilesName(workspace: string): string {
        return claims.userFilesName(workspace);
    }
    workspaceNetworkName(workspace: string): string {
        return workspaceObjects.workspaceNetworkName(workspace);
    }
    newDiskName(ref: InstanceRef, role: DiskRole): string {
        return claims.newDiskName(ref, role);
    }

    createUserFiles(ref: Ownership, name: string, sizeGb: number): Promise<UserFilesClaim> {
        return claims.createUserFiles(this.kube, ref, name, sizeGb);
    }
    userFilesUsers(name: string): Promise<string[]> {
        return claims.userFilesUsers(this.kube, name);
    }
    userFilesExists(name: string): Promise<boolean> {
        return claims.userFilesExists(this.kube, name);
    }
    releaseUserFiles(ref: Ownership, name: string, deleteIfUnused: boolean): Promise<UserFilesRelease> {
        return claims.releaseUserFiles(this.kube, ref, name, deleteIfUnused);
    }

    createWorkspaceNetwork(ref: Ownership, name: string): Promise<void> {
        return workspaceObjects.createWorkspaceNetwork(this.kube, ref, name);
    }
    workspaceNetworkExists(name: string): Promise<boolean> {
        return workspaceObjects.workspaceNetworkExists(this.kube, name);
    }
    deleteWorkspaceNetwork(name: string): Promise<void> {
        return workspaceObjects.deleteWorkspaceNetwork(this.kube, name);
    }

    createDisk(...disk: Parameters<Backend["createDisk"]>): Promise<DiskState> {
        return claims.createDisk(this.kube, ...disk);
    }
    readDisk(name: string): Promise<DiskState | undefined> {
        return claims.readDisk(this.kube, name);
    }
    resizeDisk(name: string, sizeGb: number): Promise<void> {
        return claims.resizeDisk(this.kube, name, sizeGb);
    }
    deleteDisk(name: string): Promise<void> {
        return claims.deleteDisk(this.kube, name);
    }

    createRuntime(spec: RuntimeSpec, progress: Progress): Promise<RuntimeState> {
        return runtime.createRuntime(this.kube, spec, progress);
    }
    readRuntime(id: string): Promise<RuntimeState | undefined> {
        return runtime.readRuntime(this.kube, id);
    }
    updateRuntime(id: string, changes: LiveChanges): Promise<RuntimeState> {
        return updateRuntime(this.kube, id, changes);
    }
    deleteRuntime(id: string): Promise<void> {
        return runtime.deleteRuntime(this.kube, id);
    }
    runtimeIdFor(ref: { workspace: string; instance: string }): string {
        return runtime.runtimeIdFor(ref);
    }

    applyInboundRules(spec: InboundSpec): Promise<void> {
        return workspaceObjects.applyInboundRules(this.kube, spec);
    }
    inboundRulesIntact(spec: InboundSpec): Promise<boolean> {
        return workspaceObjects.inboundRulesIntact(this.kube, spec);
    }
    removeInboundRules(spec: InboundSpec): Promise<void> {
        return workspaceObjects.removeInboundRules(this.kube, spec);
    }

    stopRuntime(id: string): Promise<RuntimeState> {
        return power.stopRuntime(this.kube, id);
    }
    startRuntime(id: string, progress: Progress, timeoutSeconds: number): Promise<RuntimeState> {
        return power.startRuntime(this.kube, id, progress, timeoutSeconds);
    }

    ensureAgent(spec: AgentSpec, progress: Progress): Promise<AgentState> {
        return agent.ensureAgent(this.kube, spec, progress);
    }
    readAgent(workspace: string): Promise<AgentState | undefined> {
        return agent.readAgent(this.kube, workspace);
    }
    deleteAgent(workspace: string): Promise<void> {
        return agent.deleteAgent(this.kube, workspace);
    }
    agentStore(workspace: string): AgentStore {
        return agentStore(this.kube, workspace);
    }
    listInstances(workspace: string): Promise<InstanceView[]> {
        return agent.listInstances(this.kube, workspace);
    }
    workspaceUsage(workspace: string): Promise<QuotaUse[]> {
        return agent.workspaceUsage(this.kube, workspace);
    }

    applyEgress(spec: EgressSpec, progress: Progress): Promise<string> {
        return workspaceObjects.applyEgress(this.kube, spec, progress);
    }
    readEgress(spec: EgressSpec): Promise<string> {
        return workspaceObjects.readEgress(this.kube, spec);
    }
    removeEgress(spec: EgressSpec): Promise<void> {
        return workspaceObjects.removeEgress(this.kube, spec);
    }
}
