/**
 * The Kubernetes backend: a thin adapter from the backend interface to the Kubernetes API
 * (@kubernetes/client-node), applying the manifests of ./manifests with server-side apply under
 * one field manager. The class only assembles the modules, each of one concern.
 */
import { Backend, DiskRole, InstanceRef } from "../backend";
import { Args, BackendBase } from "../backendBase";
import type { JobRunner } from "../jobRunner";
import { KubeClient, KubernetesTarget } from "./client";
import { KubeObject } from "./manifests";
import * as agent from "./agent";
import * as store from "./agentStore";
import * as claims from "./claims";
import * as cluster from "./cluster";
import * as jobs from "./jobs";
import * as liveChanges from "./liveChanges";
import * as power from "./power";
import * as runtime from "./runtime";
import * as workspaceObjects from "./workspaceObjects";

export class KubernetesBackend extends BackendBase implements Backend {
    private readonly kube: KubeClient;

    readonly jobs: JobRunner = {
        stageJobFiles: (...a) => jobs.stageJobFiles(this.kube, ...a),
        startJob: (...a) => jobs.startJob(this.kube, ...a),
        listJobs: (...a) => jobs.listJobs(this.kube, ...a),
        stopJob: (...a) => jobs.stopJob(this.kube, ...a),
        removeJob: (...a) => jobs.removeJob(this.kube, ...a),
        readJobFiles: (...a) => jobs.readJobFiles(this.kube, ...a),
        wakeAgent: () => jobs.wakeAgent(),
    };

    constructor(readonly target: KubernetesTarget) {
        const kube = new KubeClient(target);
        // Pods are resized in place through the pods/resize subresource (Kubernetes 1.33 and later).
        super("kubernetes", kube.description);
        this.kube = kube;
    }

    /** Server-side apply of a whole object under this project's field manager. */
    apply(obj: KubeObject, dryRun = false): Promise<KubeObject> {
        return this.kube.apply(obj, dryRun);
    }

    identity(...a: Args<"identity">) {
        return cluster.identity(this.kube, ...a);
    }
    ping(...a: Args<"ping">) {
        return cluster.ping(this.kube, ...a);
    }
    capacity(...a: Args<"capacity">) {
        return cluster.capacity(this.kube, ...a);
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

    createUserFiles(...a: Args<"createUserFiles">) {
        return claims.createUserFiles(this.kube, ...a);
    }
    userFilesUsers(...a: Args<"userFilesUsers">) {
        return claims.userFilesUsers(this.kube, ...a);
    }
    userFilesExists(...a: Args<"userFilesExists">) {
        return claims.userFilesExists(this.kube, ...a);
    }
    releaseUserFiles(...a: Args<"releaseUserFiles">) {
        return claims.releaseUserFiles(this.kube, ...a);
    }

    createWorkspaceNetwork(...a: Args<"createWorkspaceNetwork">) {
        return workspaceObjects.createWorkspaceNetwork(this.kube, ...a);
    }
    workspaceNetworkExists(...a: Args<"workspaceNetworkExists">) {
        return workspaceObjects.workspaceNetworkExists(this.kube, ...a);
    }
    deleteWorkspaceNetwork(...a: Args<"deleteWorkspaceNetwork">) {
        return workspaceObjects.deleteWorkspaceNetwork(this.kube, ...a);
    }

    createDisk(...a: Args<"createDisk">) {
        return claims.createDisk(this.kube, ...a);
    }
    readDisk(...a: Args<"readDisk">) {
        return claims.readDisk(this.kube, ...a);
    }
    resizeDisk(...a: Args<"resizeDisk">) {
        return claims.resizeDisk(this.kube, ...a);
    }
    deleteDisk(...a: Args<"deleteDisk">) {
        return claims.deleteDisk(this.kube, ...a);
    }

    createRuntime(...a: Args<"createRuntime">) {
        return runtime.createRuntime(this.kube, ...a);
    }
    readRuntime(...a: Args<"readRuntime">) {
        return runtime.readRuntime(this.kube, ...a);
    }
    updateRuntime(...a: Args<"updateRuntime">) {
        return liveChanges.updateRuntime(this.kube, ...a);
    }
    deleteRuntime(...a: Args<"deleteRuntime">) {
        return runtime.deleteRuntime(this.kube, ...a);
    }
    runtimeIdFor(ref: { workspace: string; instance: string }): string {
        return runtime.runtimeIdFor(ref);
    }

    applyInboundRules(...a: Args<"applyInboundRules">) {
        return workspaceObjects.applyInboundRules(this.kube, ...a);
    }
    inboundRulesIntact(...a: Args<"inboundRulesIntact">) {
        return workspaceObjects.inboundRulesIntact(this.kube, ...a);
    }
    removeInboundRules(...a: Args<"removeInboundRules">) {
        return workspaceObjects.removeInboundRules(this.kube, ...a);
    }

    stopRuntime(...a: Args<"stopRuntime">) {
        return power.stopRuntime(this.kube, ...a);
    }
    startRuntime(...a: Args<"startRuntime">) {
        return power.startRuntime(this.kube, ...a);
    }

    ensureAgent(...a: Args<"ensureAgent">) {
        return agent.ensureAgent(this.kube, ...a);
    }
    readAgent(...a: Args<"readAgent">) {
        return agent.readAgent(this.kube, ...a);
    }
    deleteAgent(...a: Args<"deleteAgent">) {
        return agent.deleteAgent(this.kube, ...a);
    }
    agentStore(...a: Args<"agentStore">) {
        return store.agentStore(this.kube, ...a);
    }
    listInstances(...a: Args<"listInstances">) {
        return agent.listInstances(this.kube, ...a);
    }
    workspaceUsage(...a: Args<"workspaceUsage">) {
        return agent.workspaceUsage(this.kube, ...a);
    }

    applyEgress(...a: Args<"applyEgress">) {
        return workspaceObjects.applyEgress(this.kube, ...a);
    }
    readEgress(...a: Args<"readEgress">) {
        return workspaceObjects.readEgress(this.kube, ...a);
    }
    removeEgress(...a: Args<"removeEgress">) {
        return workspaceObjects.removeEgress(this.kube, ...a);
    }
}
