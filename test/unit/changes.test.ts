import { classify, growOnly, sameValue } from "../../provider/changes";
import { runtimeRules } from "../../provider/resources/runtime";
import { osDisk, tempDisk } from "../../provider/resources/disks";

const base = {
    backend: { kind: "docker", host: "unix:///var/run/docker.sock" },
    workspace: "team",
    owner: "p/s",
    instance: "alice",
    progressUrn: "urn:a",
    size: "Standard_DS2_v2",
    cpus: 2,
    memoryGb: 7,
    gpus: 0,
    image: "img:1",
    applications: ["jupyterlab", "jupyter"],
    env: {},
    token: "t".repeat(64),
    osDisk: "os-1",
    tempDisk: "tmp-1",
    tempDiskGb: 28,
    userFiles: "uf",
    network: "net",
    readyTimeoutSeconds: 300,
};
const outputsOnly = { containerId: "abc", status: "Running", ports: { jupyter: 20001 }, __provider: "serialised" };

describe("runtime changes on a backend that resizes live (Docker)", () => {
    const rules = runtimeRules(true);
    const diff = (news: object) =>
        classify(rules, { ...base, ...outputsOnly }, { ...base, __provider: "serialised", ...news });

    test("nothing changed: no change, whatever the outputs and the provider blob hold", () => {
        expect(diff({})).toEqual({ changed: [], replaces: [] });
    });

    test("memory and CPU apply live", () => {
        expect(diff({ memoryGb: 14 })).toEqual({ changed: ["memoryGb"], replaces: [] });
        expect(diff({ size: "Standard_DS3_v2", cpus: 4, memoryGb: 14 })).toEqual({
            changed: ["cpus", "memoryGb", "size"],
            replaces: [],
        });
    });

    test.each([
        "image",
        "applications",
        "env",
        "token",
        "osDisk",
        "tempDisk",
        "userFiles",
        "network",
        "instance",
        "workspace",
        "backend",
    ])("a change of %s replaces the runtime", (field) => {
        const value =
            field === "applications"
                ? ["jupyter"]
                : field === "env"
                  ? { A: "1" }
                  : field === "backend"
                    ? { kind: "kubernetes", namespace: "ml" }
                    : "other-value";
        expect(diff({ [field]: value }).replaces).toEqual([field]);
    });

    // The address of an engine or cluster is not its identity: a CI runner's socket path or
    // kubeconfig differs from a laptop's, and that must never replace a disk.
    test.each([
        [
            "another address of the Docker engine",
            { kind: "docker", host: "unix:///var/run/docker.sock" },
            { kind: "docker", host: "unix:///run/docker.sock" },
        ],
        [
            "a plaintext opt-in",
            { kind: "docker", host: "tcp://h:2375" },
            { kind: "docker", host: "tcp://h:2375", allowPlaintextTcp: true },
        ],
        [
            "another kubeconfig and context",
            { kind: "kubernetes", namespace: "ml", kubeconfig: "/home/me/.kube/config" },
            { kind: "kubernetes", namespace: "ml", kubeconfig: "/ci/kubeconfig", context: "ci" },
        ],
    ])("%s is no change", (_what, before, after) => {
        expect(classify(rules, { ...base, backend: before }, { ...base, backend: after })).toEqual({
            changed: [],
            replaces: [],
        });
    });

    test.each([
        ["another namespace", { kind: "kubernetes", namespace: "ml" }, { kind: "kubernetes", namespace: "ml2" }],
        [
            "another storage class",
            { kind: "kubernetes", namespace: "ml" },
            { kind: "kubernetes", namespace: "ml", storageClass: "fast" },
        ],
        [
            "another kind of backend",
            { kind: "docker", host: "unix:///var/run/docker.sock" },
            { kind: "kubernetes", namespace: "ml" },
        ],
    ])("%s is another place: a replacement", (_what, before, after) => {
        expect(classify(rules, { ...base, backend: before }, { ...base, backend: after }).replaces).toEqual([
            "backend",
        ]);
    });

    test("the engine's identity, recorded for the first time on an older state, is no change", () => {
        expect(classify(rules, base, { ...base, backendId: "docker-engine:abc" })).toEqual({
            changed: [],
            replaces: [],
        });
    });

    // A disk's own check compares its inputs with the state before the identity is added to them:
    // read as a change, that would pick a new volume, and lose the home directory.
    test("inputs not yet given the identity are no change against a state that has it", () => {
        expect(classify(rules, { ...base, backendId: "docker-engine:abc" }, base)).toEqual({
            changed: [],
            replaces: [],
        });
        const disk = osDisk.rules({}, {});
        expect(
            classify(
                disk,
                { backend: base.backend, backendId: "docker-engine:abc", sizeGb: 32 },
                { backend: base.backend, sizeGb: 32 },
            ),
        ).toEqual({ changed: [], replaces: [] });
    });

    test("GPUs replace the runtime (device requests are fixed at creation)", () => {
        expect(diff({ gpus: 1 }).replaces).toEqual(["gpus"]);
    });

    test("the progress URN and the owner never restart anything", () => {
        expect(diff({ progressUrn: "urn:b" })).toEqual({ changed: [], replaces: [] });
        expect(diff({ owner: "p/other" })).toEqual({ changed: ["owner"], replaces: [] });
    });

    test("an unclassified new input is a replacement, never a silent in-place change", () => {
        expect(diff({ somethingNew: true }).replaces).toEqual(["somethingNew"]);
    });
});

test("where resizing needs a restart, CPU and memory replace the runtime", () => {
    expect(classify(runtimeRules(false), base, { ...base, memoryGb: 14 }).replaces).toEqual(["memoryGb"]);
});

describe("disks", () => {
    const disk = { backend: base.backend, workspace: "team", owner: "p/s", instance: "alice", sizeGb: 128 };

    test("growing the OS disk is live, shrinking it is a reimage", () => {
        expect(classify(osDisk.rules({}, {}), disk, { ...disk, sizeGb: 256 })).toEqual({
            changed: ["sizeGb"],
            replaces: [],
        });
        expect(classify(osDisk.rules({}, {}), disk, { ...disk, sizeGb: 64 })).toEqual({
            changed: ["sizeGb"],
            replaces: ["sizeGb"],
        });
    });

    test("an explicit reimage replaces the OS disk", () => {
        expect(classify(osDisk.rules({}, {}), disk, { ...disk, reimage: "2026-11-27" }).replaces).toEqual(["reimage"]);
    });

    test("renaming the instance keeps its disks", () => {
        expect(classify(osDisk.rules({}, {}), disk, { ...disk, instance: "alice2" }).replaces).toEqual([]);
        expect(classify(tempDisk.rules({}, {}), disk, { ...disk, instance: "alice2" }).replaces).toEqual([]);
    });

    test("another workspace replaces the disks", () => {
        expect(classify(osDisk.rules({}, {}), disk, { ...disk, workspace: "other" }).replaces).toEqual(["workspace"]);
    });

    test("the temp disk resizes in place either way", () => {
        expect(classify(tempDisk.rules({}, {}), disk, { ...disk, sizeGb: 8 }).replaces).toEqual([]);
    });
});

test("growOnly and sameValue", () => {
    expect(growOnly(1, 2)).toBe("live");
    expect(growOnly(2, 1)).toBe("replace");
    expect(sameValue({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameValue({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(sameValue(["a", "b"], ["b", "a"])).toBe(false);
});
