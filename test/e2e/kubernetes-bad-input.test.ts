// Kubernetes problems fail `pulumi preview` with the cause named, and nothing is applied:
// an API server that does not answer, a namespace that is missing and may not be created, a verb
// RBAC forbids, a storage class that does not exist.
import { testKubeconfig } from "../support/backends";
import { applyYaml, kubectl, unreachableKubeconfig, userKubeconfig } from "../support/cluster";
import { TestStack, errorText, programStack, uniqueWorkspace } from "../support/stacks";

const ws = uniqueWorkspace("kbad");
const namespace = `ci-${ws}`;
let t: TestStack;

async function previewError(backend: object): Promise<string> {
    await t.setConfig({
        workspaceName: ws,
        backend,
        image: "img:1",
        instances: { alice: { size: { cpus: 1, memoryGb: 1 } } },
    });
    try {
        await t.stack.preview();
    } catch (e) {
        return errorText(e);
    }
    throw new Error("the preview succeeded");
}

const objectsIn = (ns: string) =>
    kubectl(["get", "statefulset,pvc,service,secret,networkpolicy", "-n", ns, "-o", "name"]).trim();

beforeAll(async () => {
    t = await programStack("instance", { workspaceName: ws, instances: {} });
});

afterAll(async () => {
    if (t) await t.dispose();
    for (const args of [
        ["delete", "namespace", namespace, "--wait=false"],
        ["delete", "clusterrole,clusterrolebinding", `ci-${ws}-read-namespaces`],
    ]) {
        try {
            kubectl(args);
        } catch {
            /* not there */
        }
    }
});

test("an API server that does not answer", async () => {
    const m = await previewError({ kubernetes: { namespace, kubeconfig: unreachableKubeconfig() } });
    expect(m).toMatch(
        /\[backend\] Kubernetes API server at https:\/\/127\.0\.0\.1:1 \(namespace ci-kbad-[0-9a-f]+\) does not answer/,
    );
});

test("a namespace that does not exist and may not be created", async () => {
    // A user who may read namespaces but not create them.
    applyYaml(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: ci-${ws}-read-namespaces }
rules: [{ apiGroups: [""], resources: [namespaces], verbs: [get, list] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ci-${ws}-read-namespaces }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ci-${ws}-read-namespaces }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: reader-${ws} }]
`);
    const m = await previewError({ kubernetes: { namespace, kubeconfig: userKubeconfig(`reader-${ws}`) } });
    expect(m).toContain(
        `[backend.kubernetes.namespace] namespace "${namespace}" does not exist and user "reader-${ws}" may not create it`,
    );
    expect(() => kubectl(["get", "namespace", namespace])).toThrow();
});

test("a verb RBAC forbids, named with the resource", async () => {
    kubectl(["create", "namespace", namespace]);
    // Everything the provider needs except creating StatefulSets and exec into pods.
    applyYaml(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: almost, namespace: ${namespace} }
rules:
- { apiGroups: [apps], resources: [statefulsets], verbs: [get, list, patch, delete] }
- { apiGroups: [""], resources: [persistentvolumeclaims, services, secrets, pods, events], verbs: ["*"] }
- { apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: ["*"] }
- { apiGroups: [""], resources: [configmaps, serviceaccounts], verbs: ["*"] }
- { apiGroups: [apps], resources: [deployments], verbs: ["*"] }
- { apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: ["*"] }
- { apiGroups: [""], resources: [pods/log, pods/portforward], verbs: ["*"] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: almost, namespace: ${namespace} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: almost }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: almost-${ws} }]
`);
    const m = await previewError({ kubernetes: { namespace, kubeconfig: userKubeconfig(`almost-${ws}`) } });
    // Without pods/exec it could not grant an assigned user a shell in their pod either.
    expect(m).toContain(
        `[backend.kubernetes] forbidden by RBAC for user "almost-${ws}" in namespace "${namespace}": create statefulsets.apps, get pods/exec, create pods/exec\n`,
    );
    expect(objectsIn(namespace)).toBe("");
});

test("a storage class that does not exist lists the ones that do", async () => {
    const m = await previewError({ kubernetes: { namespace, kubeconfig: testKubeconfig(), storageClass: "fast-ssd" } });
    expect(m).toContain(
        '[backend.kubernetes.storageClass] storage class "fast-ssd" does not exist; the cluster has: standard',
    );
    expect(objectsIn(namespace)).toBe("");
});
