/** A runtime spec for the unit tests of what each backend is asked for; override what a test is about. */
import type { RuntimeSpec } from "../../provider/backends/backend";

export function runtimeSpec(overrides: Partial<RuntimeSpec> = {}): RuntimeSpec {
    return {
        workspace: "ml-team",
        owner: "proj/dev",
        instance: "alice",
        image: "compute-instance-workstation:0.1.0",
        sizeName: "Standard_DS3_v2",
        cpus: 4,
        memoryGb: 14,
        gpus: 0,
        applications: ["jupyterlab", "jupyter"],
        env: {},
        token: "0123456789abcdef0123456789abcdef",
        osDisk: "ci-ml-team-alice-os-aaaaaa",
        tempDisk: "ci-ml-team-alice-temp-bbbbbb",
        tempDiskGb: 28,
        userFiles: "ci-ml-team-userfiles",
        network: "ci-ml-team",
        readyTimeoutSeconds: 300,
        ssh: null,
        ...overrides,
    };
}
