/**
 * The workspace agent's store over two ConfigMaps: the policies the resources write (one key
 * each) and the agent's own memory.
 */
import { AgentStore, BackendError } from "../backend";
import { parseStoredJson } from "../layout";
import { KubeClient, reason, statusCode } from "./client";
import { FIELD_MANAGER, agentMemoryName, agentPoliciesName } from "./manifests";

export function agentStore(kube: KubeClient, workspace: string): AgentStore {
    const namespace = kube.ns;
    const read = async (name: string): Promise<Record<string, string>> => {
        try {
            return (await kube.core.readNamespacedConfigMap({ name, namespace })).data ?? {};
        } catch (e) {
            // Deleted out of band: nothing to read; refresh drops the policies, `up` writes them again.
            if (statusCode(e) === 404) return {};
            throw new BackendError(`could not read ConfigMap ${name} on the ${kube.description}: ${reason(e)}`);
        }
    };
    // A JSON merge patch of one key: resources writing their own keys at once never race,
    // and, unlike an apply, it leaves the keys of every other resource alone.
    const patch = async (name: string, data: Record<string, string | null>) => {
        try {
            await kube.core.patchNamespacedConfigMap(
                { name, namespace, body: { data }, fieldManager: FIELD_MANAGER },
                kube.lib.setHeaderOptions("Content-Type", kube.lib.PatchStrategy.MergePatch),
            );
        } catch (e) {
            throw new BackendError(`could not write ConfigMap ${name} on the ${kube.description}: ${reason(e)}`);
        }
    };
    const policies = agentPoliciesName(workspace);
    const memory = agentMemoryName(workspace);
    return {
        writePolicy: (key, value) => patch(policies, { [key]: value === undefined ? null : JSON.stringify(value) }),
        readPolicy: async (key) => parseStoredJson((await read(policies))[key]),
        readPolicies: async () =>
            Object.fromEntries(Object.entries(await read(policies)).map(([k, v]) => [k, parseStoredJson(v)])),
        readMemory: async () => parseStoredJson((await read(memory)).memory),
        writeMemory: (m) => patch(memory, { memory: JSON.stringify(m) }),
    };
}
