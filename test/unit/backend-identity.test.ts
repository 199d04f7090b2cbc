import { addressOf, anotherPlaceProblem, defaultAddress, placeOf } from "../../provider/backendIdentity";
import { plaintextTcpProblem, usesTls } from "../../provider/backends/docker/connection";

describe("the address of an engine or cluster is not its identity", () => {
    test("a Docker engine's place is the engine, whatever its address", () => {
        expect(placeOf({ kind: "docker", host: "unix:///run/docker.sock" })).toEqual(
            placeOf({ kind: "docker", host: "tcp://10.0.0.5:2376" }),
        );
    });

    test("a cluster's place is its namespace and storage class, not the kubeconfig or context", () => {
        const a = placeOf({ kind: "kubernetes", namespace: "ml", kubeconfig: "/a", context: "x" });
        expect(a).toEqual(placeOf({ kind: "kubernetes", namespace: "ml" }));
        expect(a).not.toEqual(placeOf({ kind: "kubernetes", namespace: "ml2" }));
    });

    test("reads and deletes fall back to this process's own default address of the same place", () => {
        expect(
            defaultAddress({ kind: "docker", host: "unix:///gone.sock" }, { DOCKER_HOST: "unix:///run/docker.sock" }),
        ).toEqual({ kind: "docker", host: "unix:///run/docker.sock" });
        expect(defaultAddress({ kind: "docker", host: "unix:///gone.sock" }, {})).toEqual({
            kind: "docker",
            host: "unix:///var/run/docker.sock",
        });
        expect(
            defaultAddress({
                kind: "kubernetes",
                namespace: "ml",
                kubeconfig: "/laptop/config",
                context: "dev",
                storageClass: "fast",
            }),
        ).toEqual({ kind: "kubernetes", namespace: "ml", storageClass: "fast" });
    });

    test("an address that leads to another engine is refused naming both, and what to do", () => {
        const p = anotherPlaceProblem(
            "engine",
            { id: "docker-engine:AAA:/var/lib/docker", spec: { kind: "docker", host: "unix:///var/run/docker.sock" } },
            { id: "docker-engine:BBB:/var/lib/docker", spec: { kind: "docker", host: "ssh://ci@build-2" } },
        );
        expect(p.field).toBe("backend");
        expect(p.message).toBe(
            "ssh://ci@build-2 leads to another engine (docker-engine:BBB:/var/lib/docker) than the one this stack's objects are on " +
                "(docker-engine:AAA:/var/lib/docker, last reached at unix:///var/run/docker.sock). Point the backend (or DOCKER_HOST) back at that engine; " +
                "to move the workspace, destroy it there first (user files are retained) or deploy it as another stack",
        );
        expect(addressOf({ kind: "kubernetes", namespace: "ml", context: "ci" })).toBe(
            "the default kubeconfig (context ci)",
        );
    });
});

describe("a plaintext tcp:// engine takes an explicit opt-in", () => {
    test("plain tcp:// is refused, saying why and what to use instead", () => {
        const m = plaintextTcpProblem("tcp://10.0.0.5:2375", undefined, {});
        expect(m).toContain(
            "tcp://10.0.0.5:2375 is a Docker engine without TLS: whoever can reach that port is root on its host",
        );
        expect(m).toContain("backend.docker.allowPlaintextTcp: true");
    });

    test("TLS, the opt-in, and other schemes pass", () => {
        expect(plaintextTcpProblem("tcp://10.0.0.5:2376", undefined, {})).toBeUndefined();
        expect(plaintextTcpProblem("tcp://10.0.0.5:2375", undefined, { DOCKER_TLS_VERIFY: "1" })).toBeUndefined();
        expect(plaintextTcpProblem("tcp://10.0.0.5:2375", true, {})).toBeUndefined();
        expect(plaintextTcpProblem("unix:///var/run/docker.sock", undefined, {})).toBeUndefined();
        expect(plaintextTcpProblem("ssh://me@host", undefined, {})).toBeUndefined();
        expect(usesTls("tcp://h:2376", {})).toBe(true);
    });
});
