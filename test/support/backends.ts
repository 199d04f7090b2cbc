/**
 * The backends under test: each with the real thing behind it (the Docker engine, the local
 * Kubernetes cluster of scripts/cluster) and a way to break it out of band.
 */
import * as fs from "fs";
import type { Backend } from "../../provider/backends/backend";
import { DockerBackend } from "../../provider/backends/docker";
import { KubernetesBackend } from "../../provider/backends/kubernetes";
import { kubectl, loadImages, localImages, simulatedNamespace } from "./cluster";
import { docker } from "./stacks";

/** The local cluster's kubeconfig: scripts/test starts the cluster and exports this. */
export function testKubeconfig(): string {
    const path = process.env.COMPUTE_INSTANCE_TEST_KUBECONFIG;
    if (!path || !fs.existsSync(path)) {
        throw new Error(
            "COMPUTE_INSTANCE_TEST_KUBECONFIG is not set to a kubeconfig: run the tests with scripts/test (npm test), which starts the local cluster (scripts/cluster up)",
        );
    }
    return path;
}

export interface BackendUnderTest {
    name: string;
    make(): Backend;
    /** Deletes the runtime behind the backend's back, as a user with docker/kubectl would. */
    deleteRuntimeOutOfBand(id: string): Promise<void>;
    /** After the suite: removes what was made for it besides the backend's own objects (a namespace). */
    dispose?(): Promise<void>;
}

export const dockerUnderTest: BackendUnderTest = {
    name: "docker",
    make: () => new DockerBackend("unix:///var/run/docker.sock"),
    async deleteRuntimeOutOfBand(id) {
        await docker.getContainer(id).remove({ force: true });
    },
};

/**
 * The local cluster, its pods simulated (kwok: what the API server and a kubelet report) or run
 * on the real node (a kubelet and containerd really run them, from the image built here).
 */
export function kubernetesUnderTest(namespace: string, pods: "simulated" | "real" = "simulated"): BackendUnderTest {
    return {
        name: pods === "real" ? "kubernetes (real node)" : "kubernetes",
        make: () => {
            if (pods === "simulated") simulatedNamespace(namespace);
            // The node never pulls: the workstation image goes into its containerd first.
            else loadImages(localImages.workstation);
            return new KubernetesBackend({ namespace, kubeconfig: testKubeconfig() });
        },
        async dispose() {
            try {
                kubectl(["delete", "namespace", namespace, "--wait=false"]);
            } catch {
                /* never made, or already gone */
            }
        },
        async deleteRuntimeOutOfBand(id) {
            const k8s = require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
            const kc = new k8s.KubeConfig();
            kc.loadFromFile(testKubeconfig());
            await kc.makeApiClient(k8s.AppsV1Api).deleteNamespacedStatefulSet({ name: id, namespace });
        },
    };
}
