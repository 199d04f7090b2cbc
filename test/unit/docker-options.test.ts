import type { RuntimeSpec } from "../../provider/backends/backend";
import { connectionOptions, isLocalEngine } from "../../provider/backends/docker/connection";
import { restricts } from "../../provider/backends/docker/firewall";
import {
    containerCreateOptions,
    inboundPortRules,
    memoryBytes,
    preferredPort,
    shmBytes,
    statusFromDocker,
} from "../../provider/backends/docker/options";
import { endpointsFor } from "../../provider/model/endpoints";
import { capacityProblems } from "../../provider/capacity";

const spec: RuntimeSpec = {
    workspace: "ml-team",
    owner: "proj/dev",
    instance: "alice",
    image: "compute-instance-workstation:0.1.0",
    sizeName: "Standard_DS3_v2",
    cpus: 4,
    memoryGb: 14,
    gpus: 0,
    applications: ["jupyterlab", "jupyter"],
    env: { B: "2", A: "1" },
    token: "0123456789abcdef0123456789abcdef",
    osDisk: "ci-ml-team-alice-os-aaaaaa",
    tempDisk: "ci-ml-team-alice-temp-bbbbbb",
    tempDiskGb: 28,
    userFiles: "ci-ml-team-userfiles",
    network: "ci-ml-team",
    readyTimeoutSeconds: 300,
    ssh: null,
};
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

describe("spec → Docker create options", () => {
    const opts = containerCreateOptions(spec, { jupyter: 23456 });

    test("snapshot of the whole request", () => {
        expect(opts).toMatchSnapshot();
    });

    test("CPU and memory limits from the size, no swap", () => {
        expect(opts.HostConfig?.NanoCpus).toBe(4e9);
        expect(opts.HostConfig?.Memory).toBe(14 * 1024 ** 3);
        expect(opts.HostConfig?.MemorySwap).toBe(opts.HostConfig?.Memory);
    });

    test("the UI port is published on loopback only", () => {
        expect(opts.HostConfig?.PortBindings).toEqual({ "8888/tcp": [{ HostIp: "127.0.0.1", HostPort: "23456" }] });
    });

    test("OS disk at home, temp disk at /mnt, user files as the notebooks' directory", () => {
        expect(opts.HostConfig?.Mounts).toEqual([
            { Type: "volume", Source: spec.osDisk, Target: "/home/azureuser" },
            { Type: "volume", Source: spec.tempDisk, Target: "/mnt" },
            { Type: "volume", Source: spec.userFiles, Target: "/home/azureuser/cloudfiles/code" },
        ]);
    });

    test("unprivileged: capabilities dropped but the entry point's, no new privileges", () => {
        expect(opts.HostConfig?.CapDrop).toEqual(["ALL"]);
        expect(opts.HostConfig?.CapAdd).toEqual(["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"]);
        expect(opts.HostConfig?.SecurityOpt).toEqual(["no-new-privileges:true"]);
        expect(opts.HostConfig?.Privileged).toBeUndefined();
    });

    test("labels in the app.kubernetes.io style", () => {
        expect(opts.Labels).toMatchObject({
            "app.kubernetes.io/name": "compute-instance",
            "app.kubernetes.io/instance": "alice",
            "app.kubernetes.io/component": "runtime",
            "app.kubernetes.io/part-of": "ml-team",
            "app.kubernetes.io/managed-by": "pulumi-compute-instance",
        });
    });

    test("env sorted, the token and the applications last", () => {
        expect(opts.Env).toEqual(["A=1", "B=2", "CI_APPLICATIONS=jupyterlab,jupyter", `JUPYTER_TOKEN=${spec.token}`]);
    });

    test("GPUs become an NVIDIA device request", () => {
        const gpu = containerCreateOptions({ ...spec, gpus: 2 }, { jupyter: 1 });
        expect(gpu.HostConfig?.DeviceRequests).toEqual([{ Driver: "nvidia", Count: 2, Capabilities: [["gpu"]] }]);
        expect(opts.HostConfig?.DeviceRequests).toBeUndefined();
    });

    test("a missing port is a programming error, not a silent unpublished UI", () => {
        expect(() => containerCreateOptions(spec, {})).toThrow("no host port");
    });
});

test("shared memory is a quarter of memory, at most 2 GiB", () => {
    expect(shmBytes(2)).toBe(512 * 1024 ** 2);
    expect(shmBytes(64)).toBe(2 * 1024 ** 3);
    expect(memoryBytes(3.5)).toBe(3758096384);
});

test("preferred ports are stable per instance and in 20000-29999", () => {
    const a = preferredPort({ workspace: "w", owner: "o", instance: "alice" }, "jupyter");
    expect(a).toBe(preferredPort({ workspace: "w", owner: "other", instance: "alice" }, "jupyter"));
    expect(a).not.toBe(preferredPort({ workspace: "w", owner: "o", instance: "bob" }, "jupyter"));
    expect(a).toBeGreaterThanOrEqual(20000);
    expect(a).toBeLessThan(30000);
});

test("Docker states map to Azure's", () => {
    expect(statusFromDocker({ Status: "running" })).toBe("Running");
    expect(statusFromDocker({ Status: "exited" })).toBe("Stopped");
    expect(statusFromDocker({ Status: "created" })).toBe("Creating");
    expect(statusFromDocker({ Status: "dead" })).toBe("Unusable");
    expect(statusFromDocker({})).toBe("Unknown");
});

test("endpoints: JupyterLab and the classic notebook share the Jupyter port", () => {
    expect(endpointsFor(["jupyterlab", "jupyter"], "127.0.0.1", { jupyter: 20001 }, "azureuser")).toEqual({
        jupyterLab: "http://127.0.0.1:20001/lab",
        jupyter: "http://127.0.0.1:20001/tree",
    });
    expect(endpointsFor(["jupyter"], "127.0.0.1", { jupyter: 20001 }, "azureuser")).toEqual({
        jupyter: "http://127.0.0.1:20001/tree",
    });
});

test("endpoints: SSH as an ssh:// URL with the instance user", () => {
    expect(endpointsFor(["jupyter"], "127.0.0.1", { jupyter: 20001, ssh: 20022 }, "azureuser")).toEqual({
        jupyter: "http://127.0.0.1:20001/tree",
        ssh: "ssh://azureuser@127.0.0.1:20022",
    });
    expect(endpointsFor(["jupyter"], "::1", { ssh: 22 }, "azureuser").ssh).toBe("ssh://azureuser@[::1]:22");
});

describe("SSH on Docker", () => {
    const opts = containerCreateOptions({ ...spec, ssh: { publicKey: PUBLIC_KEY } }, { jupyter: 23456, ssh: 23457 });

    test("sshd's port is published on loopback beside Jupyter's", () => {
        expect(opts.HostConfig?.PortBindings).toEqual({
            "8888/tcp": [{ HostIp: "127.0.0.1", HostPort: "23456" }],
            "2222/tcp": [{ HostIp: "127.0.0.1", HostPort: "23457" }],
        });
        expect(Object.keys(opts.ExposedPorts ?? {})).toEqual(["8888/tcp", "2222/tcp"]);
    });

    test("the one accepted key reaches the entry point; no capability is added for sshd", () => {
        expect(opts.Env).toContain(`CI_SSH_AUTHORIZED_KEY=${PUBLIC_KEY}`);
        expect(opts.HostConfig?.CapAdd).toEqual(containerCreateOptions(spec, { jupyter: 1 }).HostConfig?.CapAdd);
    });

    test("off: no port, no key", () => {
        const off = containerCreateOptions(spec, { jupyter: 23456 });
        expect(off.Env?.some((e) => e.startsWith("CI_SSH"))).toBe(false);
        expect(Object.keys(off.HostConfig?.PortBindings ?? {})).toEqual(["8888/tcp"]);
    });
});

describe("Docker host URLs", () => {
    test.each([
        ["unix:///var/run/docker.sock", { socketPath: "/var/run/docker.sock" }],
        ["tcp://10.1.2.3:2375", { host: "10.1.2.3", port: 2375, protocol: "http" }],
        ["ssh://me@build-box", { protocol: "ssh", host: "build-box", port: 22, username: "me" }],
    ])("%s", (host, expected) => {
        expect(connectionOptions(host, {})).toMatchObject(expected);
    });

    test("tcp on 2376 is TLS", () => {
        expect(connectionOptions("tcp://h:2376", { DOCKER_CERT_PATH: "/nonexistent" })).toMatchObject({
            protocol: "https",
            port: 2376,
        });
    });

    test("local engines", () => {
        expect(isLocalEngine("unix:///var/run/docker.sock")).toBe(true);
        expect(isLocalEngine("tcp://127.0.0.1:2375")).toBe(true);
        expect(isLocalEngine("tcp://10.0.0.1:2375")).toBe(false);
        expect(isLocalEngine("ssh://h")).toBe(false);
    });
});

describe("capacity at preview", () => {
    const twoCores = {
        cpus: 2,
        memoryGb: 23.4,
        gpus: 0,
        noGpus: "has no NVIDIA runtime (install the NVIDIA Container Toolkit there)",
    };

    test("a size larger than the engine names the size, the numbers and what fits", () => {
        const [p] = capacityProblems(
            { name: "Standard_DS3_v2", cpus: 4, memoryGb: 14, gpus: 0 },
            twoCores,
            "the Docker engine at unix:///x",
        );
        expect(p.field).toBe("size");
        expect(p.message).toContain("Standard_DS3_v2 needs 4 vCPUs but the Docker engine at unix:///x has 2");
        expect(p.message).toContain("sizes that fit: Standard_DS1_v2, Standard_DS2_v2");
    });

    test("GPUs without the NVIDIA runtime", () => {
        const [p] = capacityProblems(
            { name: "Standard_NC6s_v3", cpus: 1, memoryGb: 1, gpus: 1 },
            twoCores,
            "the engine",
        );
        expect(p.message).toContain("has no NVIDIA runtime");
    });

    test("a size that fits has no problem", () => {
        expect(capacityProblems({ name: "custom", cpus: 1, memoryGb: 2, gpus: 0 }, twoCores, "e")).toEqual([]);
    });
});

describe("workspace agent container", () => {
    const { agentCreateOptions } =
        require("../../provider/backends/docker/options") as typeof import("../../provider/backends/docker/options");
    const o = agentCreateOptions({
        workspace: "team",
        owner: "p/s",
        image: "compute-instance-agent:1",
        network: "ci-team",
        checkIntervalSeconds: 30,
    });

    test("snapshot", () => {
        expect(o).toMatchSnapshot();
    });

    test("the engine's socket and its store; on the workspace network; restarted always (after every engine restart); no capabilities, read-only", () => {
        expect(o.HostConfig?.Mounts).toEqual([
            { Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock" },
            { Type: "volume", Source: "ci-team-agent", Target: "/var/lib/compute-instance-agent" },
        ]);
        expect(o.HostConfig).toMatchObject({
            NetworkMode: "ci-team",
            RestartPolicy: { Name: "always" },
            CapDrop: ["ALL"],
            ReadonlyRootfs: true,
        });
        expect(o.HostConfig?.CapAdd).toBeUndefined();
        expect(o.Env).toContain("CI_AGENT_CHECK_INTERVAL_SECONDS=30");
    });
});

describe("inbound rules on Docker", () => {
    const withSsh: RuntimeSpec = { ...spec, ssh: { publicKey: PUBLIC_KEY } };

    test("only the services the rules name are published; publicBind publishes on every address", () => {
        const opts = containerCreateOptions(
            { ...withSsh, networkRules: { publicBind: true, inbound: [{ service: "ssh", from: ["10.0.0.0/8"] }] } },
            { ssh: 23457 },
        );
        expect(opts.HostConfig?.PortBindings).toEqual({ "2222/tcp": [{ HostIp: "0.0.0.0", HostPort: "23457" }] });
        expect(Object.keys(opts.ExposedPorts ?? {})).toEqual(["8888/tcp", "2222/tcp"]);
    });

    test("ranges are enforced only beyond loopback; a rule from anywhere restricts nothing", () => {
        const rules = (publicBind: boolean) =>
            inboundPortRules(
                {
                    publicBind,
                    inbound: [
                        { service: "jupyter", from: ["10.0.0.0/8"] },
                        { service: "ssh", from: ["0.0.0.0/0"] },
                    ],
                },
                { jupyter: 1, ssh: 2 },
            );
        expect(rules(false)).toEqual([]);
        expect(rules(true)).toEqual([
            { hostPort: 1, from: ["10.0.0.0/8"] },
            { hostPort: 2, from: ["0.0.0.0/0"] },
        ]);
        expect(rules(true).map(restricts)).toEqual([true, false]);
    });
});
